"""The CBAM B.3 sensor block (issue 14, item 11): CO2 concentration, flue-gas flow in Nm3 and operating
hours from the stack rollups, in B3_Measured and Summary_Communication. Expected values from the ISA
atmosphere and the ideal-gas correction to normal conditions, computed here.
"""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from reports_helpers import MONTH, NOW, config_for, find_value, header_map, seed_known_month

from core.models import DeviceDaily, Factory
from core.reporting.reports import generate_reports

PPM, VELOCITY_M_S, TEMP_C = 80_000.0, 8.0, 180.0
DIAMETER_M, ALTITUDE_M = 0.8, 2000.0  # reports_helpers.add_factory
COVERED_S, N_VALID = 86_400.0 + 43_200.0, 1440 + 720


def test_sensor_block_concentration_flow_and_hours(Session, db_url, tmp_path):  # noqa: N803
    seed_known_month(Session)
    with Session() as s:
        fid = s.scalar(sa.select(Factory.id).where(Factory.code == "TST"))
        s.execute(sa.update(DeviceDaily).where(DeviceDaily.factory_id == fid).values(
            sum_co2_ppm=DeviceDaily.n_valid * PPM, sum_velocity_m_s=DeviceDaily.n_valid * VELOCITY_M_S,
            sum_flue_temp_c=DeviceDaily.n_valid * TEMP_C))
        s.commit()
    (rep,) = generate_reports(Session, config_for(db_url, tmp_path), MONTH, ["TST"], requested_by="t",
                              now=NOW).reports
    wb = load_workbook(rep.path)
    pressure_pa = 101_325.0 * (1 - 2.25577e-5 * ALTITUDE_M) ** 5.25588  # ISA troposphere
    nm3 = VELOCITY_M_S * math.pi * DIAMETER_M ** 2 / 4 * COVERED_S * 273.15 / (273.15 + TEMP_C) * pressure_pa / 101_325
    ws = wb["B3_Measured"]
    hr, h = header_map(ws, "Stack")
    assert ws.cell(hr + 1, h["CO2 concentration, mean (% vol)"]).value == pytest.approx(8.0)
    assert ws.cell(hr + 1, h["Flue temperature, mean (C)"]).value == pytest.approx(TEMP_C)
    assert ws.cell(hr + 1, h["Flue-gas flow, monitored hours (Nm3, wet)"]).value == pytest.approx(nm3, rel=1e-3)
    comm = wb["Summary_Communication"]

    def field(name):
        return find_value(comm, name, col=4, label_col=3)

    assert field("CO2 concentration (mean of valid readings)") == pytest.approx(8.0)
    assert field("Flue-gas flow (monitored hours, normal conditions, wet)") == pytest.approx(nm3, rel=1e-3)
    assert field("Operating hours (valid sensor-hours)") == pytest.approx(COVERED_S / 3600)

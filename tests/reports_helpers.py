"""Shared set-up and read-back helpers for the report, workbook and scheduler tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl.worksheet.worksheet import Worksheet

from core.config import Config
from core.inventory.factors import seed_factors
from core.models import (
    STATUS_APPROVED,
    STATUS_SUBMITTED,
    Device,
    DeviceDaily,
    EnergyEntry,
    Factory,
    FactoryDaily,
    MonthlySubmission,
    Stack,
    User,
)

MONTH = date(2026, 10, 1)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOTE = '=HYPERLINK("http://evil.example/x","click me")'

# domain.md §2.1 ready-to-use values (IPCC 2006 NCV x EF), per kg or litre of fuel; §2.2, §2.3.
DIESEL_KG_CO2_PER_L = 2.689  # at 0.844 kg/L
DIESEL_KG_PER_L = 0.844
DIESEL_G_CH4_PER_KG, DIESEL_G_N2O_PER_KG = 0.129, 0.0258
WOOD_KG_CO2_PER_KG = 1.747  # biogenic
WOOD_G_CH4_PER_KG, WOOD_G_N2O_PER_KG = 0.468, 0.0624
GRID_KG_PER_KWH = 0.08483
AR5_CH4, AR5_N2O = 28, 265

# The known month: 1000 L diesel, 100 t firewood, 10 MWh grid, 20 t made tea.
DIESEL_L, WOOD_KG, GRID_KWH, MADE_TEA_KG = 1000.0, 100_000.0, 10_000.0, 20_000.0


def expected_figures() -> dict[str, float]:
    """The known month's figures computed from domain.md's per-unit values, not from the code."""
    diesel_kg = DIESEL_L * DIESEL_KG_PER_L
    fossil = DIESEL_L * DIESEL_KG_CO2_PER_L
    ch4 = (diesel_kg * DIESEL_G_CH4_PER_KG + WOOD_KG * WOOD_G_CH4_PER_KG) / 1000
    n2o = (diesel_kg * DIESEL_G_N2O_PER_KG + WOOD_KG * WOOD_G_N2O_PER_KG) / 1000
    scope1 = fossil + ch4 * AR5_CH4 + n2o * AR5_N2O
    scope2 = GRID_KWH * GRID_KG_PER_KWH
    bio = WOOD_KG * WOOD_KG_CO2_PER_KG
    measured = 100_000.0 + 50_000.0  # two days of rollups below
    share = fossil / (fossil + bio)
    return dict(
        fossil_t=fossil / 1000, ch4_t=ch4 / 1000, n2o_t=n2o / 1000, scope1_t=scope1 / 1000,
        scope2_t=scope2 / 1000, total_t=(scope1 + scope2) / 1000, bio_t=bio / 1000,
        made_tea_t=MADE_TEA_KG / 1000, intensity=(scope1 + scope2) / MADE_TEA_KG,
        see_direct=scope1 / MADE_TEA_KG, see_indirect=scope2 / MADE_TEA_KG, see_total=(scope1 + scope2) / MADE_TEA_KG,
        measured_t=measured / 1000, measured_fossil_t=measured * share / 1000,
        measured_bio_t=measured * (1 - share) / 1000, coverage=129_600 / (31 * 86_400),
        grid_mwh=GRID_KWH / 1000, diesel_kg=diesel_kg,
    )


def add_factory(session, code: str, name: str, region: int = 1, target: float | None = 0.30,
                note: str | None = NOTE, with_month: bool = True, submitted_at: datetime | None = None,
                made_tea_kg: float = MADE_TEA_KG, wood_kg: float = WOOD_KG) -> Factory:
    """A factory with one stack, one sensor node, two days of rollups and an approved month."""
    f = Factory(code=code, name=name, region=region, county="Kiambu", latitude=-1.0, longitude=36.7,
                altitude_m=2000, target_kg_co2e_per_kg=target)
    session.add(f)
    session.flush()
    st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8)
    session.add(st)
    session.flush()
    dev = f"{code}-S1"
    session.add(Device(id=dev, factory_id=f.id, stack_id=st.id, sample_interval_s=60.0))
    session.flush()
    if with_month:
        user = User(username=f"=cmd|{code.lower()}", password_hash="x", role="factory_manager", factory_id=f.id)
        session.add(user)
        session.flush()
        sub = MonthlySubmission(factory_id=f.id, month=MONTH, green_leaf_kg=made_tea_kg * 4.25,
                                made_tea_kg=made_tea_kg, status=STATUS_APPROVED if submitted_at is None
                                else STATUS_SUBMITTED,
                                submitted_at=submitted_at or datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
                                submitted_by_id=user.id, note=note)
        sub.entries = [
            EnergyEntry(source="diesel", quantity=DIESEL_L, unit="L"),
            EnergyEntry(source="firewood", quantity=wood_kg / 1000, unit="t"),
            EnergyEntry(source="grid_electricity", quantity=GRID_KWH / 1000, unit="MWh"),
        ]
        session.add(sub)
    for day, co2, cov, n in ((date(2026, 10, 5), 100_000.0, 86_400.0, 1440), (date(2026, 10, 6), 50_000.0, 43_200.0, 720)):
        session.add(FactoryDaily(factory_id=f.id, day=day, co2_kg=co2, covered_s=cov, n_readings=n + 10, n_valid=n))
        session.add(DeviceDaily(device_id=dev, factory_id=f.id, day=day, co2_kg=co2, covered_s=cov,
                                n_readings=n + 10, n_valid=n))
    # A day of the next month must not count.
    session.add(FactoryDaily(factory_id=f.id, day=date(2026, 11, 1), co2_kg=999.0, covered_s=10.0))
    return f


def seed_known_month(Session) -> None:  # noqa: N803
    """Factor library plus the known factory TST (a formula-like name) and a second one, KGW."""
    with Session() as s:
        seed_factors(s)
        add_factory(s, "TST", "+Test Factory")
        add_factory(s, "KGW", "Kagwe", region=2, target=0.40, note=None)
        add_factory(s, "NOD", "No Data", region=2, with_month=False)
        s.commit()


def config_for(db_url: str, tmp_path: Path) -> Config:
    """A Config pointing at the test database and a temporary data directory."""
    return Config(database_url=db_url, data_dir=tmp_path / "data", secret_key="test")


def find_value(ws: Worksheet, label: str, col: int = 2, label_col: int = 1):  # noqa: ANN201
    """The value next to the first cell in `label_col` equal to `label`."""
    for row in ws.iter_rows(min_col=label_col, max_col=label_col):
        cell = row[0]
        if isinstance(cell.value, str) and cell.value.strip() == label:
            return ws.cell(row=cell.row, column=col).value
    raise KeyError(f"{label!r} not found in sheet {ws.title}")


def find_row(ws: Worksheet, label: str, label_col: int = 1) -> int:
    """The row number of the first cell in `label_col` equal to `label`."""
    for row in ws.iter_rows(min_col=label_col, max_col=label_col):
        if isinstance(row[0].value, str) and row[0].value.strip() == label:
            return row[0].row
    raise KeyError(f"{label!r} not found in sheet {ws.title}")


def header_map(ws: Worksheet, first_header: str) -> tuple[int, dict[str, int]]:
    """(header row, {header: column}) of the table whose first header is `first_header`."""
    r = find_row(ws, first_header)
    headers = {}
    for cell in ws[r]:
        if isinstance(cell.value, str):
            headers[cell.value] = cell.column
    return r, headers

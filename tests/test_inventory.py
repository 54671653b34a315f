"""Monthly inventory: a month with known inputs, checked against domain.md's ready-to-use values."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from core.inventory.factors import load_factor_set, seed_factors
from core.inventory.monthly import due_datetime, monthly_inventory, totals
from core.models import (
    STATUS_APPROVED,
    Device,
    EnergyEntry,
    Factory,
    FactoryDaily,
    MonthlySubmission,
    Stack,
)

MONTH = date(2026, 10, 1)

# domain.md §2.1 ready-to-use table (IPCC 2006 NCV × EF), per kg or per litre of fuel.
DIESEL_KG_CO2_PER_L = 2.689  # at 0.844 kg/L
DIESEL_G_CH4_PER_KG, DIESEL_G_N2O_PER_KG = 0.129, 0.0258
WOOD_KG_CO2_PER_KG = 1.747  # biogenic
WOOD_G_CH4_PER_KG, WOOD_G_N2O_PER_KG = 0.468, 0.0624
GRID_KG_PER_KWH = 0.08483  # Ember 2024 average, domain.md §2.3
AR5_CH4, AR5_N2O = 28, 265  # domain.md §2.2


def _setup(session, *, submitted_at):
    seed_factors(session)
    f = Factory(code="TST", name="Test", region=1, county="Kiambu", latitude=-1.0, longitude=36.7,
                altitude_m=2000, target_kg_co2e_per_kg=0.30)
    session.add(f)
    session.flush()
    st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8)
    session.add(st)
    session.flush()
    session.add(Device(id="TST-S1", factory_id=f.id, stack_id=st.id))
    sub = MonthlySubmission(factory_id=f.id, month=MONTH, green_leaf_kg=85_000, made_tea_kg=20_000,
                            status=STATUS_APPROVED, submitted_at=submitted_at)
    sub.entries = [
        EnergyEntry(source="diesel", quantity=1000, unit="L"),
        EnergyEntry(source="firewood", quantity=100, unit="t"),
        EnergyEntry(source="grid_electricity", quantity=10, unit="MWh"),
    ]
    session.add(sub)
    session.add(FactoryDaily(factory_id=f.id, day=date(2026, 10, 5), co2_kg=100_000.0, covered_s=86_400.0,
                             n_readings=1440, n_valid=1440))
    session.add(FactoryDaily(factory_id=f.id, day=date(2026, 10, 6), co2_kg=50_000.0, covered_s=43_200.0,
                             n_readings=720, n_valid=720))
    # A day of the next month must not count.
    session.add(FactoryDaily(factory_id=f.id, day=date(2026, 11, 1), co2_kg=999.0, covered_s=10.0))
    session.commit()
    return f


def test_month_with_known_inputs(Session):
    with Session() as s:
        f = _setup(s, submitted_at=datetime(2026, 11, 3, 8, 0, tzinfo=UTC))
        factors = load_factor_set(s)
        (inv,) = monthly_inventory(s, [MONTH], factors, [f.id], now=datetime(2026, 11, 28, tzinfo=UTC))

    diesel_kg = 1000 * 0.844
    wood_kg = 100_000
    fossil = 1000 * DIESEL_KG_CO2_PER_L
    ch4 = (diesel_kg * DIESEL_G_CH4_PER_KG + wood_kg * WOOD_G_CH4_PER_KG) / 1000
    n2o = (diesel_kg * DIESEL_G_N2O_PER_KG + wood_kg * WOOD_G_N2O_PER_KG) / 1000
    scope1 = fossil + ch4 * AR5_CH4 + n2o * AR5_N2O
    scope2 = 10_000 * GRID_KG_PER_KWH
    bio = wood_kg * WOOD_KG_CO2_PER_KG

    assert inv.scope1_kg == pytest.approx(scope1, rel=2e-3)
    assert inv.scope2_kg == pytest.approx(scope2, rel=1e-9)
    assert inv.biogenic_co2_kg == pytest.approx(bio, rel=1e-3)
    assert inv.intensity_kg_per_kg == pytest.approx((scope1 + scope2) / 20_000, rel=2e-3)
    assert inv.target_met is False  # 0.33 > 0.30
    assert inv.measured_co2_kg == pytest.approx(150_000)
    share = fossil / (fossil + bio)
    assert inv.measured_fossil_co2_kg == pytest.approx(150_000 * share, rel=2e-3)
    assert inv.measured_biogenic_co2_kg == pytest.approx(150_000 * (1 - share), rel=2e-3)
    assert inv.coverage == pytest.approx(129_600 / (31 * 86_400))
    # Measured + substituted (none stored here), not measured scaled by coverage (issue 12).
    assert inv.reconciliation_pct == pytest.approx((150_000 - fossil - bio) / (fossil + bio) * 100, rel=1e-2)
    direct, indirect, total = inv.see_t_per_t
    assert direct == pytest.approx(scope1 / 20_000, rel=2e-3)
    assert total == pytest.approx(direct + indirect)
    assert inv.submitted_on_time is True
    assert {line.factor_version for line in inv.lines} == {1}


def test_late_submission_and_missing_month(Session):
    with Session() as s:
        f = _setup(s, submitted_at=datetime(2026, 11, 10, 21, 0, 1, tzinfo=UTC))  # 00:00:01 on the 11th, EAT
        factors = load_factor_set(s)
        oct_inv, nov_inv = monthly_inventory(s, [MONTH, date(2026, 11, 1)], factors, [f.id])
    assert oct_inv.submitted_on_time is False
    assert nov_inv.submission_status == "missing"
    assert nov_inv.intensity_kg_per_kg is None
    t = totals([oct_inv, nov_inv])
    assert t.n == 1
    assert t.intensity_kg_per_kg == pytest.approx(oct_inv.intensity_kg_per_kg)


def test_due_date_is_local_midnight_after_the_10th():
    # 10 Nov 2026 24:00 EAT = 10 Nov 21:00 UTC.
    assert due_datetime(MONTH) == datetime(2026, 11, 10, 21, 0, tzinfo=UTC)


def test_scoped_to_no_factories_returns_nothing(Session):
    with Session() as s:
        _setup(s, submitted_at=None)
        assert monthly_inventory(s, [MONTH], load_factor_set(s), []) == []


def test_drafts_stay_out_of_totals_and_target_shares(Session):
    with Session() as s:
        f = _setup(s, submitted_at=None)
        sub = s.scalars(sa.select(MonthlySubmission)).one()
        sub.status = "draft"
        s.commit()
        (inv,) = monthly_inventory(s, [MONTH], load_factor_set(s), [f.id])
    assert inv.has_energy_data and inv.intensity_kg_per_kg is not None  # the factory still sees its draft
    assert inv.target_met is None
    t = totals([inv])
    assert (t.n, t.scope1_kg, t.made_tea_kg) == (0, 0.0, 0.0)
    assert t.measured_co2_kg == pytest.approx(150_000)

"""The emission-factor library: seeded rows with citations, versioning, the factor set in force."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.inventory.factors import (
    SEED_FACTORS,
    add_factor_version,
    latest_factors,
    load_factor_set,
    seed_factors,
)
from core.models import EmissionFactor

# domain.md §2.1 table (IPCC 2006 Vol 2: NCV Table 1.2, CO2 Table 1.4, CH4/N2O Table 2.3):
# code: (NCV MJ/kg, CO2 kg/TJ, CH4 kg/TJ, N2O kg/TJ, biogenic)
IPCC = {
    "diesel": (43.0, 74_100, 3, 0.6, False),
    "furnace_oil": (40.4, 77_400, 3, 0.6, False),
    "lpg": (47.3, 63_100, 1, 0.1, False),
    "firewood": (15.6, 112_000, 30, 4, True),
    "charcoal": (29.5, 112_000, 200, 4, True),
    "briquettes": (11.6, 100_000, 30, 4, True),
}
# domain.md §2.3: Ember 2024 average 84.83 g/kWh; IFI 2021 v3.1 CM 274, OM 574 g/kWh.
GRID = {"grid_ke_average": 0.08483, "grid_ke_ifi_cm": 0.274, "grid_ke_ifi_om": 0.574}


@pytest.fixture
def seeded(Session):  # noqa: ANN001, N803
    with Session() as s:
        seed_factors(s)
        s.commit()
    return Session


def test_every_seeded_row_carries_its_source(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        rows = list(s.scalars(sa.select(EmissionFactor)))
    assert {r.code for r in rows} == {row["code"] for row in SEED_FACTORS}
    for r in rows:
        assert r.version == 1
        assert r.source.strip() and r.table_ref.strip() and r.citation.strip(), r.code
        assert 1990 < r.year <= 2026, r.code
        assert r.created_by == "seed"


def test_seeded_values_match_domain_md(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        rows = latest_factors(s)
    for code, (ncv, co2, ch4, n2o, bio) in IPCC.items():
        r = rows[code]
        assert (r.ncv_mj_per_kg, r.co2_kg_per_tj, r.ch4_kg_per_tj, r.n2o_kg_per_tj) == (ncv, co2, ch4, n2o), code
        assert r.biomass_fraction == (1.0 if bio else 0.0)
        assert r.kind == "fuel"
    for code, value in GRID.items():
        assert rows[code].kind == "electricity"
        assert rows[code].kg_co2_per_kwh == value
    assert rows["diesel"].density_kg_per_l == 0.844  # iClimate/ghgpy, domain.md §2.1


def test_seeding_twice_adds_nothing(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        assert seed_factors(s) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(EmissionFactor)) == len(SEED_FACTORS)


def test_default_grid_is_the_location_based_average(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        fs = load_factor_set(s)
    assert fs.grid_code == "grid_ke_average"
    assert fs.grid_kg_co2_per_kwh == 0.08483
    assert fs.own_renewable_kg_co2_per_kwh == 0.0
    assert set(fs.fuels) == set(IPCC)
    assert fs.versions["diesel"] == 1 and fs.versions["grid_ke_average"] == 1
    assert "Ember" in fs.citations["grid_ke_average"]


@pytest.mark.parametrize("code, value", [("grid_ke_ifi_cm", 0.274), ("grid_ke_ifi_om", 0.574)])
def test_margins_are_selectable_alternatives(seeded, code: str, value: float) -> None:  # noqa: ANN001
    with seeded() as s:
        fs = load_factor_set(s, grid_code=code)
    assert (fs.grid_code, fs.grid_kg_co2_per_kwh) == (code, value)


def test_unknown_grid_code_and_empty_library(Session) -> None:  # noqa: ANN001, N803
    with Session() as s:
        with pytest.raises(LookupError, match="init-db"):
            load_factor_set(s)
        seed_factors(s)
        s.flush()
        with pytest.raises(LookupError):
            load_factor_set(s, grid_code="diesel")  # a fuel is not a grid factor
        with pytest.raises(LookupError):
            load_factor_set(s, grid_code="grid_mars")


def test_new_version_leaves_v1_unchanged(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        v2 = add_factor_version(s, "diesel", created_by="admin", density_kg_per_l=0.835,
                                citation="KEBS KS EAS 177 density (demo)")
        s.commit()
        assert v2.version == 2
    with seeded() as s:
        rows = {r.version: r for r in s.scalars(sa.select(EmissionFactor).where(EmissionFactor.code == "diesel"))}
        assert set(rows) == {1, 2}
        assert rows[1].density_kg_per_l == 0.844 and rows[1].created_by == "seed"
        assert rows[2].density_kg_per_l == 0.835 and rows[2].created_by == "admin"
        assert rows[2].co2_kg_per_tj == rows[1].co2_kg_per_tj  # unchanged fields are copied
        fs = load_factor_set(s)
        assert fs.fuels["diesel"].density_kg_per_l == 0.835  # the newest version is in force
        assert fs.fuels["diesel"].version == 2
        assert fs.versions["diesel"] == 2


def test_new_grid_version_becomes_default(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        add_factor_version(s, "grid_ke_average", created_by="admin", kg_co2_per_kwh=0.095, year=2025)
        s.commit()
        fs = load_factor_set(s)
    assert (fs.grid_kg_co2_per_kwh, fs.versions["grid_ke_average"]) == (0.095, 2)


def test_add_version_rejects_unknown_code_or_field(seeded) -> None:  # noqa: ANN001
    with seeded() as s:
        with pytest.raises(LookupError):
            add_factor_version(s, "uranium", created_by="admin", ncv_mj_per_kg=1.0)
        with pytest.raises(ValueError, match="not factor fields"):
            add_factor_version(s, "diesel", created_by="admin", colour="red")

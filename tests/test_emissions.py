"""Emissions math against values taken from the sources in reference/domain.md, not from the code.

Each expected number names where it comes from ([R] read in a source, [K] a named standard value,
[C] arithmetic shown in domain.md).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from core.emissions import (
    GWP_SETS,
    EmissionsError,
    FuelFactor,
    barometric_pressure_pa,
    electricity_emissions_kg,
    electricity_kwh,
    firewood_ncv_mj_per_kg,
    fossil_share,
    fuel_emissions,
    specific_embedded_emissions,
    stack_co2_kg_s,
)
from core.inventory.factors import SEED_FACTORS

# Fuel factors as seeded into the library (their values are checked against domain.md §2.1 in
# tests/test_factors.py); built here without a database.
FUELS = {
    row["code"]: FuelFactor(
        code=row["code"],
        ncv_mj_per_kg=row["ncv_mj_per_kg"],
        co2_kg_per_tj=row["co2_kg_per_tj"],
        ch4_kg_per_tj=row["ch4_kg_per_tj"],
        n2o_kg_per_tj=row["n2o_kg_per_tj"],
        biomass_fraction=row["biomass_fraction"],
        density_kg_per_l=row["density_kg_per_l"],
    )
    for row in SEED_FACTORS
    if row["kind"] == "fuel"
}

# The worked example of domain.md §1.5: D 0.8 m, v 8 m/s, 180 °C, 80 kPa, 8 % CO2 wet -> 0.30 kg/s.
EXAMPLE = dict(co2_ppm=80_000.0, flue_temp_c=180.0, velocity_m_s=8.0, stack_diameter_m=0.8, pressure_pa=80_000.0)

# Unit conversions (exact by definition): 1 ft = 0.3048 m; 1 short ton = 2000 lb = 907.18474 kg.
FT3_M3 = 0.3048**3
SHORT_TON_KG = 907.18474


def _scfh_epa(q_actual_m3_s: float, pressure_pa: float, temp_c: float) -> float:
    """Actual m³/s -> standard ft³/h at the US EPA standard 68 °F (20 °C), 29.92 inHg (domain.md §1.1)."""
    q_std_m3_s = q_actual_m3_s * (pressure_pa / 101_325.0) * (293.15 / (temp_c + 273.15))
    return q_std_m3_s * 3600.0 / FT3_M3


def _example_actual_flow_m3_s() -> float:
    return EXAMPLE["velocity_m_s"] * math.pi * EXAMPLE["stack_diameter_m"] ** 2 / 4


# -- stack mass flow ---------------------------------------------------------------------------


def test_worked_example_030_kg_s() -> None:
    # domain.md §1.5 table, last row: "a worked example 0.30 kg/s" (two significant figures).
    assert stack_co2_kg_s(**EXAMPLE) == pytest.approx(0.30, abs=0.005)


@pytest.mark.parametrize(
    "altitude_m, kpa",
    # domain.md §1.1 [C]: 84.56 kPa at 1,500 m, 81.49 at 1,800 m, 79.50 at 2,000 m, 77.54 at 2,200 m.
    [(0, 101.325), (1500, 84.56), (1800, 81.49), (2000, 79.50), (2200, 77.54)],
)
def test_barometric_pressure_at_altitude(altitude_m: float, kpa: float) -> None:
    assert barometric_pressure_pa(altitude_m) / 1000 == pytest.approx(kpa, abs=0.006)


def test_altitude_out_of_range_is_an_error() -> None:
    with pytest.raises(EmissionsError):
        barometric_pressure_pa(12_000)


def test_part75_f11_cross_check() -> None:
    """40 CFR 75 App. F Eq. F-11 [K]: E_h [short t/h] = 5.7e-7 · %CO2 wet · Q_h [scfh wet]."""
    scfh = _scfh_epa(_example_actual_flow_m3_s(), EXAMPLE["pressure_pa"], EXAMPLE["flue_temp_c"])
    e_h_tons = 5.7e-7 * 8.0 * scfh
    expected_kg_s = e_h_tons * SHORT_TON_KG / 3600
    # The published K is rounded to 2 significant figures (−0.19 %, domain.md §1.2).
    assert stack_co2_kg_s(**EXAMPLE) == pytest.approx(expected_kg_s, rel=0.004)


def test_part98_c6_cross_check() -> None:
    """40 CFR 98 Subpart C Eq. C-6 [K]: CO2 [metric t/h] = 5.18e-7 · %CO2 wet · Q [scfh wet]."""
    scfh = _scfh_epa(_example_actual_flow_m3_s(), EXAMPLE["pressure_pa"], EXAMPLE["flue_temp_c"])
    expected_kg_s = 5.18e-7 * 8.0 * scfh * 1000 / 3600
    assert stack_co2_kg_s(**EXAMPLE) == pytest.approx(expected_kg_s, rel=0.002)


def test_environment_canada_eq25_cross_check() -> None:
    """EC reference method Eq. 25 [R]: ER_h [kg/h] = 1.8e-2 · %CO2 wet · Q_w [Sm³/h at 25 °C]."""
    q_sm3_h = _example_actual_flow_m3_s() * (80_000 / 101_325) * (298.15 / 453.15) * 3600
    expected_kg_s = 1.8e-2 * 8.0 * q_sm3_h / 3600
    assert stack_co2_kg_s(**EXAMPLE) == pytest.approx(expected_kg_s, rel=0.002)


def test_eu_mrr_normal_volume_route() -> None:
    """EU MRR Annex VIII Eq. 1 [R] with 1 %vol CO2 = 19.635 g/Nm³ at 0 °C [C, domain.md §1.1]."""
    q_nm3_h = _example_actual_flow_m3_s() * (80_000 / 101_325) * (273.15 / 453.15) * 3600
    grams_per_h = 8.0 * 19.635 * q_nm3_h
    assert stack_co2_kg_s(**EXAMPLE) == pytest.approx(grams_per_h / 1000 / 3600, rel=1e-3)


def test_dry_basis_reading_is_converted_to_wet() -> None:
    # domain.md §1.1: x_w = x_d · (1 − B_ws). 8 % dry at 10 % H2O is 7.2 % wet.
    dry = stack_co2_kg_s(**{**EXAMPLE, "co2_ppm": 80_000.0}, moisture_fraction=0.10, dry_basis=True)
    wet = stack_co2_kg_s(**{**EXAMPLE, "co2_ppm": 72_000.0})
    assert dry == pytest.approx(wet, rel=1e-12)


def test_moisture_does_not_change_a_wet_reading() -> None:
    # Concentration and flow both wet: the water fraction is already in both (domain.md §0.5).
    assert stack_co2_kg_s(**EXAMPLE, moisture_fraction=0.15) == stack_co2_kg_s(**EXAMPLE)


def test_velocity_profile_factor_scales_the_flow() -> None:
    # domain.md §0.6: single-point velocity × profile factor = area average.
    assert stack_co2_kg_s(**EXAMPLE, velocity_profile_factor=0.9) == pytest.approx(0.9 * stack_co2_kg_s(**EXAMPLE))


def test_sea_level_pressure_overstates_mass_flow_at_altitude() -> None:
    # domain.md §0.3: using 101.325 kPa as the stack pressure overstates mass flow by "up to about
    # 27 %": that is 101.325 / 79.50 kPa, i.e. at 2,000 m (at 2,200 m it is 31 %, 101.325 / 77.54).
    at_sea_level = stack_co2_kg_s(**{**EXAMPLE, "pressure_pa": 101_325.0})
    for altitude_m, overstatement in ((2000, 0.27), (2200, 0.31)):
        at_altitude = stack_co2_kg_s(**{**EXAMPLE, "pressure_pa": barometric_pressure_pa(altitude_m)})
        assert at_sea_level / at_altitude - 1 == pytest.approx(overstatement, abs=0.006)


@pytest.mark.parametrize(
    "override",
    [
        {"stack_diameter_m": 0.0},
        {"pressure_pa": -1.0},
        {"flue_temp_c": -300.0},
        {"co2_ppm": -5.0},
        {"velocity_m_s": -1.0},
        {"co2_ppm": float("nan")},
        {"velocity_m_s": float("inf")},
    ],
)
def test_impossible_stack_inputs_raise(override: dict) -> None:
    with pytest.raises(EmissionsError):
        stack_co2_kg_s(**{**EXAMPLE, **override})


def test_bad_moisture_and_profile_raise() -> None:
    with pytest.raises(EmissionsError):
        stack_co2_kg_s(**EXAMPLE, moisture_fraction=1.0)
    with pytest.raises(EmissionsError):
        stack_co2_kg_s(**EXAMPLE, velocity_profile_factor=0.0)


# -- fuel emissions: the ready-to-use table of domain.md §2.1 [C] ---------------------------------


@pytest.mark.parametrize(
    "fuel, co2_kg_per_kg, ch4_g_per_kg, n2o_g_per_kg, biogenic",
    [
        ("diesel", 3.186, 0.129, 0.0258, False),
        ("furnace_oil", 3.127, 0.121, 0.0242, False),
        ("lpg", 2.985, 0.0473, 0.00473, False),
        ("firewood", 1.747, 0.468, 0.0624, True),
        ("charcoal", 3.304, 5.90, 0.118, True),
        ("briquettes", 1.160, 0.348, 0.0464, True),  # "other primary solid biomass"
    ],
)
def test_ready_to_use_factors_per_kg(fuel: str, co2_kg_per_kg: float, ch4_g_per_kg: float,
                                     n2o_g_per_kg: float, biogenic: bool) -> None:
    em = fuel_emissions(fuel, 1000.0, "kg", FUELS)
    co2 = em.biogenic_co2_kg if biogenic else em.fossil_co2_kg
    other = em.fossil_co2_kg if biogenic else em.biogenic_co2_kg
    assert co2 / 1000 == pytest.approx(co2_kg_per_kg, abs=0.0006)
    assert other == 0.0
    assert em.ch4_kg == pytest.approx(ch4_g_per_kg, rel=0.006)  # g/kg × 1000 kg = kg
    assert em.n2o_kg == pytest.approx(n2o_g_per_kg, rel=0.006)


@pytest.mark.parametrize(
    "fuel, kg_co2_per_l",
    # domain.md §2.1 per-litre column: diesel 2.689 at 0.844 kg/L, HFO 3.064 at 0.98, LPG 1.522 at 0.51.
    [("diesel", 2.689), ("furnace_oil", 3.064), ("lpg", 1.522)],
)
def test_litres_use_the_density(fuel: str, kg_co2_per_l: float) -> None:
    assert fuel_emissions(fuel, 1.0, "L", FUELS).fossil_co2_kg == pytest.approx(kg_co2_per_l, abs=0.0006)


def test_diesel_against_epa_hub() -> None:
    # domain.md §2.1 [R]: EPA GHG Emission Factors Hub 2.697 kg CO2/L, within 0.8 % of IPCC.
    assert fuel_emissions("diesel", 1.0, "L", FUELS).fossil_co2_kg == pytest.approx(2.697, rel=0.008)


@pytest.mark.parametrize(
    "quantity, unit, same_as_kg",
    [
        (1.0, "t", 1000.0),
        (2.5, "m3", 2500.0 * 0.844),  # m³ of a liquid = 1000 L
        (1.0, "GJ", 1000.0 / 43.0),  # energy units go through the NCV (43.0 MJ/kg, Table 1.2)
        (1.0, "MJ", 1.0 / 43.0),
        (1.0, "MWh", 3600.0 / 43.0),
        (10.0, "kWh", 36.0 / 43.0),
    ],
)
def test_units_people_log_in(quantity: float, unit: str, same_as_kg: float) -> None:
    got = fuel_emissions("diesel", quantity, unit, FUELS)
    ref = fuel_emissions("diesel", same_as_kg, "kg", FUELS)
    assert got.fossil_co2_kg == pytest.approx(ref.fossil_co2_kg, rel=1e-9)
    assert got.mass_kg == pytest.approx(same_as_kg, rel=1e-9)


def test_one_tj_of_diesel() -> None:
    # IPCC Table 1.4 / 2.3 [R via ghgpy]: 74,100 kg CO2, 3 kg CH4, 0.6 kg N2O per TJ.
    em = fuel_emissions("diesel", 1.0, "TJ", FUELS)
    assert (em.fossil_co2_kg, em.ch4_kg, em.n2o_kg) == pytest.approx((74_100, 3, 0.6))
    assert em.energy_mj == pytest.approx(1e6)


def test_firewood_by_volume_needs_a_density() -> None:
    # domain.md §2.1: "per m³: multiply by a measured kg/m³". 1 m³ at 500 kg/m³ = 500 kg.
    by_volume = fuel_emissions("firewood", 1.0, "m3", FUELS, density_kg_m3=500.0)
    assert by_volume.biogenic_co2_kg == pytest.approx(500 * 1.747, abs=0.3)
    with pytest.raises(EmissionsError, match="density"):
        fuel_emissions("firewood", 1.0, "m3", FUELS)


def test_firewood_default_ncv_is_the_ipcc_value_whatever_the_moisture() -> None:
    # IPCC 2006 Vol 2 Ch 1 Table 1.2, Wood/Wood Waste: NCV 15.6 TJ/Gg = 15.6 MJ/kg (issue 14: the
    # default no longer derives a moisture correction from a retailer page).
    for moisture in (None, 0.25, 0.45):
        em = fuel_emissions("firewood", 1.0, "kg", FUELS, moisture_fraction=moisture)
        assert em.energy_mj == pytest.approx(15.6)


def test_firewood_legacy_version_keeps_its_moisture_correction() -> None:
    # Factor versions stored before issue 14 carry the dry NCV they were computed with, so their
    # reports repeat: domain.md §2.1 [R, low authority] 3,293 kcal/kg at 25 % moisture = 13.8 MJ/kg.
    kcal_mj = 3293 * 4.1868e-3  # 1 kcal (IT) = 4.1868 kJ
    assert kcal_mj == pytest.approx(13.8, abs=0.02)
    dry = (13.8 + 2.443 * 0.25) / 0.75  # ISO 18125 form solved for the dry NCV
    legacy = {**FUELS, "firewood": dataclasses.replace(FUELS["firewood"], dry_ncv_mj_per_kg=dry)}
    em = fuel_emissions("firewood", 1.0, "kg", legacy, moisture_fraction=0.25)
    assert em.energy_mj == pytest.approx(13.8, abs=0.001)
    # Wetter wood carries less energy per kg, so less CO2 per kg at a per-TJ factor.
    wet = fuel_emissions("firewood", 1.0, "kg", legacy, moisture_fraction=0.45)
    assert wet.energy_mj < em.energy_mj
    assert firewood_ncv_mj_per_kg(0.0, 19.0) == 19.0


def test_a_lab_ncv_replaces_the_default() -> None:
    em = fuel_emissions("firewood", 1000.0, "kg", FUELS, ncv_mj_per_kg=12.0)
    assert em.energy_mj == pytest.approx(12_000.0)
    assert em.biogenic_co2_kg == pytest.approx(12_000.0 / 1e6 * 112_000)  # Table 1.4: 112,000 kg/TJ
    with pytest.raises(EmissionsError, match="NCV"):
        fuel_emissions("firewood", 1.0, "kg", FUELS, ncv_mj_per_kg=float("nan"))


@pytest.mark.parametrize(
    "fuel, quantity, unit",
    [("coal", 1.0, "kg"), ("diesel", 1.0, "gallon"), ("diesel", 1.0, "bags"), ("firewood", 1.0, "stere"),
     ("lpg", 1.0, "m3"),  # gas or liquid? refused rather than guessed
     ("diesel", -1.0, "L"), ("diesel", float("nan"), "L")],
)
def test_unknown_fuel_unit_or_bad_quantity_raises(fuel: str, quantity: float, unit: str) -> None:
    with pytest.raises(EmissionsError):
        fuel_emissions(fuel, quantity, unit, FUELS)


def test_unknown_gwp_set_raises() -> None:
    with pytest.raises(EmissionsError, match="GWP"):
        fuel_emissions("diesel", 1.0, "L", FUELS, gwp="AR3")


# -- GWP and biogenic treatment (domain.md §2.2, §0.2) -------------------------------------------


def test_gwp_sets_match_the_assessment_reports() -> None:
    # AR5 WG1 Table 8.A.1: CH4 28, N2O 265; AR6 WG1 Table 7.15: CH4 fossil 29.8, non-fossil 27.0, N2O 273;
    # AR4: 25 / 298 (domain.md §2.2).
    assert (GWP_SETS["AR5"]["ch4_fossil"], GWP_SETS["AR5"]["n2o"]) == (28.0, 265.0)
    assert (GWP_SETS["AR6"]["ch4_fossil"], GWP_SETS["AR6"]["ch4_biogenic"], GWP_SETS["AR6"]["n2o"]) == (29.8, 27.0, 273.0)
    assert (GWP_SETS["AR4"]["ch4_fossil"], GWP_SETS["AR4"]["n2o"]) == (25.0, 298.0)


@pytest.mark.parametrize(
    "fuel, gwp, co2e_kg",
    [
        # 1 TJ of diesel: 74,100 + 3·GWP_CH4,fossil + 0.6·GWP_N2O.
        ("diesel", "AR5", 74_100 + 3 * 28 + 0.6 * 265),
        ("diesel", "AR6", 74_100 + 3 * 29.8 + 0.6 * 273),
        # 1 TJ of wood: biogenic CO2 outside co2e; 30 kg CH4 (non-fossil under AR6) and 4 kg N2O count.
        ("firewood", "AR5", 30 * 28 + 4 * 265),
        ("firewood", "AR6", 30 * 27.0 + 4 * 273),
    ],
)
def test_co2e_per_tj(fuel: str, gwp: str, co2e_kg: float) -> None:
    assert fuel_emissions(fuel, 1.0, "TJ", FUELS, gwp).co2e_kg == pytest.approx(co2e_kg)


def test_biogenic_co2_is_kept_out_of_co2e() -> None:
    em = fuel_emissions("firewood", 1.0, "TJ", FUELS)
    assert em.biogenic_co2_kg == pytest.approx(112_000)  # IPCC Table 1.4 wood, biogenic
    assert em.fossil_co2_kg == 0.0
    assert em.co2e_kg < 2_000  # only CH4 and N2O: 1,900 kg under AR5
    assert fossil_share(em.fossil_co2_kg, em.biogenic_co2_kg) == 0.0
    assert fossil_share(0.0, 0.0) is None


def test_fuel_emissions_add_up() -> None:
    a = fuel_emissions("diesel", 100.0, "L", FUELS)
    b = fuel_emissions("firewood", 1000.0, "kg", FUELS)
    total = a + b
    assert total.co2e_kg == pytest.approx(a.co2e_kg + b.co2e_kg)
    assert total.biogenic_co2_kg == b.biogenic_co2_kg


# -- electricity and specific embedded emissions -----------------------------------------------


def test_electricity_units_and_scope2() -> None:
    assert electricity_kwh(1.5, "MWh") == 1500.0
    assert electricity_kwh(12.0, "kWh") == 12.0
    # Ember 2024 Kenya average 84.83 g/kWh (domain.md §2.3 [R]): 1 MWh -> 84.83 kg.
    assert electricity_emissions_kg(1000.0, 0.08483) == pytest.approx(84.83)
    with pytest.raises(EmissionsError):
        electricity_kwh(1.0, "GJ")
    with pytest.raises(EmissionsError):
        electricity_kwh(-1.0, "kWh")
    with pytest.raises(EmissionsError):
        electricity_emissions_kg(-1.0, 0.1)


def test_see_is_a_ratio_of_sums_not_a_mean_of_monthly_sees() -> None:
    # domain.md §4: annual SEE = Σ AttrEm ÷ Σ AL, not the mean of monthly SEEs.
    months = [(100.0, 10.0, 1000.0), (50.0, 5.0, 100.0)]  # (direct t, indirect t, made tea t)
    direct, indirect, total = specific_embedded_emissions(
        sum(m[0] for m in months), sum(m[1] for m in months), sum(m[2] for m in months)
    )
    assert (direct, indirect, total) == pytest.approx((150 / 1100, 15 / 1100, 165 / 1100))
    mean_of_monthly = sum(specific_embedded_emissions(*m)[2] for m in months) / 2
    assert mean_of_monthly == pytest.approx((0.11 + 0.55) / 2)
    assert total != pytest.approx(mean_of_monthly)


def test_see_needs_product() -> None:
    with pytest.raises(EmissionsError):
        specific_embedded_emissions(1.0, 1.0, 0.0)

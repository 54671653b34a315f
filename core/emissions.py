"""Emissions math: pure functions, SI units, names carry units.

Every constant cites `reference/domain.md` (section in brackets) and, through it, the primary
source. Nothing here touches the database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

R_J_PER_MOL_K = 8.314462618  # molar gas constant (CODATA 2018), domain.md §1.1
M_CO2_KG_PER_MOL = 44.0095e-3  # CO2 molar mass, domain.md §1.1
KELVIN_OFFSET = 273.15
P_SEA_LEVEL_PA = 101_325.0  # ISA sea-level pressure, domain.md §1.1
# ISA barometric formula constants, domain.md §1.1: P = 101.325·(1 − 2.25577e-5·h)^5.25588 kPa
ISA_LAPSE_PER_M = 2.25577e-5
ISA_EXPONENT = 5.25588
# Latent heat of water used in the as-received NCV formula (ISO 18125 / ISO 16559), MJ/kg.
WATER_LATENT_HEAT_MJ_PER_KG = 2.443

# GWP-100 sets, domain.md §2.2 (AR4/AR5: AR5 WG1 Table 8.A.1; AR6: WG1 Table 7.15).
GWP_SETS: dict[str, dict[str, float]] = {
    "AR4": {"ch4_fossil": 25.0, "ch4_biogenic": 25.0, "n2o": 298.0},
    "AR5": {"ch4_fossil": 28.0, "ch4_biogenic": 28.0, "n2o": 265.0},
    # AR6 splits CH4: fossil 29.8, non-fossil 27.0 (use non-fossil for biomass combustion).
    "AR6": {"ch4_fossil": 29.8, "ch4_biogenic": 27.0, "n2o": 273.0},
}

# Units a person may log a quantity in, by what they measure.
MASS_UNITS_KG = {"kg": 1.0, "t": 1000.0}
VOLUME_UNITS_L = {"L": 1.0, "m3": 1000.0}
ENERGY_UNITS_MJ = {"MJ": 1.0, "GJ": 1000.0, "TJ": 1_000_000.0, "kWh": 3.6, "MWh": 3600.0}
ELECTRICITY_UNITS_KWH = {"kWh": 1.0, "MWh": 1000.0}

# Fuels whose volume unit means stacked solid volume (needs a bulk density), not a liquid.
SOLID_FUELS = frozenset({"firewood", "briquettes", "charcoal"})
# Liquefied gases: a litre is liquid, but "m3" usually means gas at ambient pressure (about 250×
# less mass), so m³ is refused rather than guessed.
LIQUEFIED_GASES = frozenset({"lpg"})


class EmissionsError(ValueError):
    """A calculation got an input it cannot use (unknown fuel or unit, impossible value)."""


@dataclass(frozen=True)
class FuelFactor:
    """IPCC-style Tier 1 factor for one fuel: NCV and per-TJ emission factors."""

    code: str
    ncv_mj_per_kg: float
    co2_kg_per_tj: float
    ch4_kg_per_tj: float
    n2o_kg_per_tj: float
    biomass_fraction: float = 0.0  # share of the CO2 that is biogenic (0 fossil, 1 biomass)
    density_kg_per_l: float | None = None  # liquids; lets a quantity be logged in litres
    version: int = 1
    # Firewood: dry-basis NCV for a moisture correction; None = `ncv_mj_per_kg` as it is (issue 14).
    dry_ncv_mj_per_kg: float | None = None


@dataclass(frozen=True)
class FuelEmissions:
    """Emissions of one fuel quantity. co2e_kg = fossil CO2 + CH4 and N2O as CO2e (biogenic CO2 is a memo)."""

    fossil_co2_kg: float
    biogenic_co2_kg: float
    ch4_kg: float
    n2o_kg: float
    co2e_kg: float
    energy_mj: float
    mass_kg: float

    def __add__(self, other: FuelEmissions) -> FuelEmissions:
        return FuelEmissions(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)  # type: ignore[arg-type]
        )


ZERO_EMISSIONS = FuelEmissions(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def barometric_pressure_pa(altitude_m: float) -> float:
    """ISA barometric pressure at `altitude_m` (domain.md §1.1)."""
    if not -500.0 <= altitude_m <= 9000.0:
        raise EmissionsError(f"altitude {altitude_m} m is outside -500..9000 m")
    return P_SEA_LEVEL_PA * (1.0 - ISA_LAPSE_PER_M * altitude_m) ** ISA_EXPONENT


def stack_co2_kg_s(
    co2_ppm: float,
    flue_temp_c: float,
    velocity_m_s: float,
    stack_diameter_m: float,
    pressure_pa: float,
    moisture_fraction: float = 0.0,
    dry_basis: bool = False,
    velocity_profile_factor: float = 1.0,
) -> float:
    """CO2 mass flow through a stack, kg/s (ideal-gas chain, domain.md §1.1).

    `co2_ppm` is on a dry basis when `dry_basis` is true (extractive analyser with a chiller) and
    is then converted to wet with `moisture_fraction`; the velocity is the single-point reading,
    scaled to the area average by `velocity_profile_factor` (domain.md §0.6).
    """
    if not all(map(math.isfinite, (co2_ppm, flue_temp_c, velocity_m_s, stack_diameter_m, pressure_pa,
                                    moisture_fraction, velocity_profile_factor))):
        raise EmissionsError("stack inputs must be finite numbers (got NaN or infinity)")
    if stack_diameter_m <= 0:
        raise EmissionsError(f"stack diameter must be positive, got {stack_diameter_m} m")
    if pressure_pa <= 0:
        raise EmissionsError(f"pressure must be positive, got {pressure_pa} Pa")
    temp_k = flue_temp_c + KELVIN_OFFSET
    if temp_k <= 0:
        raise EmissionsError(f"flue temperature {flue_temp_c} °C is below absolute zero")
    if co2_ppm < 0 or velocity_m_s < 0:
        raise EmissionsError("CO2 concentration and velocity cannot be negative")
    if not 0.0 <= moisture_fraction < 1.0:
        raise EmissionsError(f"moisture fraction must be in [0, 1), got {moisture_fraction}")
    if velocity_profile_factor <= 0:
        raise EmissionsError(f"velocity profile factor must be positive, got {velocity_profile_factor}")
    area_m2 = math.pi * stack_diameter_m**2 / 4.0
    flow_m3_s = velocity_m_s * velocity_profile_factor * area_m2  # actual, wet
    total_mol_s = pressure_pa * flow_m3_s / (R_J_PER_MOL_K * temp_k)
    x_wet = co2_ppm * 1e-6
    if dry_basis:
        x_wet *= 1.0 - moisture_fraction
    return total_mol_s * x_wet * M_CO2_KG_PER_MOL


def firewood_ncv_mj_per_kg(moisture_fraction: float, dry_ncv_mj_per_kg: float) -> float:
    """As-received NCV of wood at a moisture (wet basis): NCV_dry·(1−w) − 2.443·w (ISO 18125)."""
    if not 0.0 <= moisture_fraction < 1.0:
        raise EmissionsError(f"moisture must be a fraction in [0, 1), got {moisture_fraction}")
    return dry_ncv_mj_per_kg * (1.0 - moisture_fraction) - WATER_LATENT_HEAT_MJ_PER_KG * moisture_fraction


# Legacy (before issue 14): dry-basis NCV of wood calibrated so that 25 % moisture gives 13.8 MJ/kg
# (domain.md §2.1, a low-authority retailer page): (13.8 + 2.443·0.25) / 0.75 [C]. Only the factor
# versions stored before migration 0012 carry it (`dry_ncv_mj_per_kg`), so their reports repeat;
# the default is now the IPCC NCV as it is, and a lab NCV per fuel lot replaces it.
WOOD_DRY_NCV_MJ_PER_KG = (13.8 + WATER_LATENT_HEAT_MJ_PER_KG * 0.25) / 0.75


def lab_ncv_as_received(ncv_mj_per_kg: float, basis: str, lab_moisture: float | None,
                        entry_moisture: float | None) -> float:
    """The as-received NCV of a fuel lot for an entry, from a lab value (ISO 18125 moisture form).

    `basis` "dry" or "as_received" (at `lab_moisture`). With the entry's own moisture the lab value
    is taken to dry basis and back to the entry's moisture; without, the lab's as-received value.
    """
    if basis == "dry":
        dry = ncv_mj_per_kg
        moisture = entry_moisture if entry_moisture is not None else lab_moisture
        return dry if moisture is None else firewood_ncv_mj_per_kg(moisture, dry)
    if basis != "as_received":
        raise EmissionsError(f"unknown NCV basis {basis!r}")
    if entry_moisture is None or lab_moisture is None:
        return ncv_mj_per_kg
    dry = (ncv_mj_per_kg + WATER_LATENT_HEAT_MJ_PER_KG * lab_moisture) / (1.0 - lab_moisture)
    return firewood_ncv_mj_per_kg(entry_moisture, dry)


def _quantity_to_kg(fuel: str, quantity: float, unit: str, factor: FuelFactor, density_kg_m3: float | None) -> float:
    if unit in MASS_UNITS_KG:
        return quantity * MASS_UNITS_KG[unit]
    if unit in VOLUME_UNITS_L:
        if fuel in LIQUEFIED_GASES and unit != "L":
            raise EmissionsError(f"{fuel} in {unit} is ambiguous (gas or liquid); log kg or litres of liquid")
        litres = quantity * VOLUME_UNITS_L[unit]
        if fuel in SOLID_FUELS:
            if not density_kg_m3 or density_kg_m3 <= 0:
                raise EmissionsError(f"{fuel} in {unit} needs a bulk density in kg/m³")
            return litres / 1000.0 * density_kg_m3
        if factor.density_kg_per_l is None:
            raise EmissionsError(f"{fuel} cannot be logged in {unit}: no density known")
        return litres * factor.density_kg_per_l
    raise EmissionsError(f"unknown unit {unit!r} for {fuel}")


def fuel_emissions(
    fuel: str,
    quantity: float,
    unit: str,
    factors: Mapping[str, FuelFactor],
    gwp: str = "AR5",
    *,
    moisture_fraction: float | None = None,
    density_kg_m3: float | None = None,
    ncv_mj_per_kg: float | None = None,
) -> FuelEmissions:
    """Emissions of burning `quantity` `unit` of `fuel` (IPCC 2006 Vol 2 Ch 2 Eq. 2.1, Tier 1).

    Energy = mass × NCV; each gas = energy [TJ] × EF [kg/TJ]. Biogenic CO2 is kept apart and not
    in co2e_kg (GHG Protocol: outside the scopes); CH4 and N2O from biomass are (domain.md §2.1).
    Firewood in m³ needs `density_kg_m3`. `ncv_mj_per_kg` (a lab NCV of the fuel lot, as received)
    replaces the factor's NCV; otherwise firewood with a `moisture_fraction` uses an NCV computed
    from it only when the factor version carries a dry NCV (versions before issue 14).
    """
    if fuel not in factors:
        raise EmissionsError(f"unknown fuel {fuel!r}; known: {', '.join(sorted(factors))}")
    if gwp not in GWP_SETS:
        raise EmissionsError(f"unknown GWP set {gwp!r}; known: {', '.join(GWP_SETS)}")
    if not math.isfinite(quantity) or quantity < 0:
        raise EmissionsError(f"quantity must be a non-negative number, got {quantity}")
    factor = factors[fuel]
    if ncv_mj_per_kg is not None and not (math.isfinite(ncv_mj_per_kg) and ncv_mj_per_kg > 0):
        raise EmissionsError(f"NCV must be a positive number, got {ncv_mj_per_kg}")
    ncv = ncv_mj_per_kg or factor.ncv_mj_per_kg
    if unit in ENERGY_UNITS_MJ:
        energy_mj = quantity * ENERGY_UNITS_MJ[unit]
        mass_kg = energy_mj / ncv
    else:
        mass_kg = _quantity_to_kg(fuel, quantity, unit, factor, density_kg_m3)
        if ncv_mj_per_kg is None and moisture_fraction is not None and fuel == "firewood" and factor.dry_ncv_mj_per_kg:
            ncv = firewood_ncv_mj_per_kg(moisture_fraction, factor.dry_ncv_mj_per_kg)
        energy_mj = mass_kg * ncv
    energy_tj = energy_mj / 1e6
    co2_kg = energy_tj * factor.co2_kg_per_tj
    ch4_kg = energy_tj * factor.ch4_kg_per_tj
    n2o_kg = energy_tj * factor.n2o_kg_per_tj
    bio = factor.biomass_fraction
    gwps = GWP_SETS[gwp]
    ch4_gwp = bio * gwps["ch4_biogenic"] + (1.0 - bio) * gwps["ch4_fossil"]
    fossil_co2_kg = co2_kg * (1.0 - bio)
    return FuelEmissions(
        fossil_co2_kg=fossil_co2_kg,
        biogenic_co2_kg=co2_kg * bio,
        ch4_kg=ch4_kg,
        n2o_kg=n2o_kg,
        co2e_kg=fossil_co2_kg + ch4_kg * ch4_gwp + n2o_kg * gwps["n2o"],
        energy_mj=energy_mj,
        mass_kg=mass_kg,
    )


def electricity_kwh(quantity: float, unit: str) -> float:
    """Convert an electricity quantity in kWh or MWh to kWh."""
    if unit not in ELECTRICITY_UNITS_KWH:
        raise EmissionsError(f"electricity must be in kWh or MWh, got {unit!r}")
    if not math.isfinite(quantity) or quantity < 0:
        raise EmissionsError(f"electricity must be a non-negative number, got {quantity}")
    return quantity * ELECTRICITY_UNITS_KWH[unit]


def electricity_emissions_kg(kwh: float, kg_co2_per_kwh: float) -> float:
    """Scope 2 CO2 of `kwh` bought at a grid factor (location-based when the factor is an average)."""
    if kwh < 0 or kg_co2_per_kwh < 0:
        raise EmissionsError("electricity and its factor cannot be negative")
    return kwh * kg_co2_per_kwh


def specific_embedded_emissions(direct_t: float, indirect_t: float, product_t: float) -> tuple[float, float, float]:
    """CBAM SEE for simple goods, t CO2e per t (Reg. 2023/956 Annex IV §2; domain.md §4).

    Pass sums over the whole period: the annual SEE is Σ emissions ÷ Σ product, not the mean of
    monthly SEEs.
    """
    if product_t <= 0:
        raise EmissionsError(f"product must be positive to compute specific emissions, got {product_t} t")
    direct = direct_t / product_t
    indirect = indirect_t / product_t
    return direct, indirect, direct + indirect


def fossil_share(fossil_co2_kg: float, biogenic_co2_kg: float) -> float | None:
    """Fossil share of combustion CO2 on a carbon basis; None when there is no combustion CO2."""
    total = fossil_co2_kg + biogenic_co2_kg
    return None if total <= 0 else fossil_co2_kg / total

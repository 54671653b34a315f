// Flue-gas velocity from a pitot tube (domain.md §1.1, §1.3).
//
//   v = C_p · sqrt(2·Δp / ρ),  ρ = P·M / (R·T)                 (Bernoulli + ideal gas, EPA M2 Eq 2-9)
//   M_d = 0.44·%CO2 + 0.32·%O2 + 0.28·(%N2 + %CO)   [g/mol]     (EPA Method 3, Eq 3-1)
//   M_s = M_d·(1 − B_ws) + 18.0·B_ws                              (EPA Method 2/4)
//
// C_p ≈ 0.84 for an S-type pitot, ≈ 1.0 for an L-type (Prandtl). The result is the point
// velocity times the per-stack profile factor (point → area average, from a Method 1/2 traverse).
#pragma once

#include <cstdint>

namespace carbontrack::flow {

constexpr double kR = 8.314462618;       // J/(mol·K), CODATA 2018
constexpr double kKelvinOffset = 273.15;
constexpr double kWaterMolarMass = 18.0;  // g/mol as in EPA Method 2 (M_s formula)
constexpr double kO2Ambient_pct = 20.9;

// Dry molar mass [g/mol] from dry-basis percentages; N2 is the balance (100 − CO2 − O2 − CO).
double dry_molar_mass_g_mol(double co2_pct, double o2_pct, double co_pct = 0.0);
// Wet molar mass [g/mol] with water vapour mole fraction `b_ws` (0..1).
double wet_molar_mass_g_mol(double dry_g_mol, double b_ws);
// Estimate dry O2 [%] from dry CO2 [%] for a fuel whose stoichiometric dry CO2 is `co2_max_pct`
// (wood ≈ 19.8 %, from F_c/F_d of 40 CFR 75 App. F): O2 = 20.9·(1 − CO2/CO2max), clamped.
double o2_from_co2_pct(double co2_dry_pct, double co2_max_pct);
// Ideal-gas density [kg/m³] at absolute pressure `p_pa`, temperature `temp_c`, molar mass in g/mol.
double gas_density_kg_m3(double p_pa, double temp_c, double molar_mass_g_mol);

// Gas composition settings used to get the flue-gas molar mass from the CO2 reading.
struct GasModel {
    double moisture_fraction = 0.12;  // B_ws, water vapour mole fraction of the stack gas
    bool co2_dry_basis = true;        // analyser behind a chiller reads dry CO2
    double co2_max_pct = 19.8;        // stoichiometric dry CO2 of the fuel (wood)
};

// Stack-gas (wet) molar mass for a CO2 reading in ppm.
double stack_molar_mass_g_mol(double co2_ppm, const GasModel& gas);

enum VelocityFlags : uint16_t {
    kVelocityNone = 0,
    kVelocityBelowDeadband = 1u << 0,  // |Δp| within the sensor's zero noise: reported as 0
    kVelocityReverse = 1u << 1,        // Δp clearly negative: pitot reversed or back-draught
    kVelocityBadInput = 1u << 2,       // temperature/pressure/density unusable
};

struct Velocity {
    double velocity_m_s = 0.0;
    uint16_t flags = kVelocityNone;
};

// Area-average gas velocity from a pitot Δp [Pa]. Δp ≤ deadband → 0 m/s (flagged reverse when
// below −deadband); never NaN for finite inputs.
Velocity pitot_velocity(double dp_pa, double density_kg_m3, double pitot_coefficient, double profile_factor,
                        double deadband_pa = 0.2);

}  // namespace carbontrack::flow

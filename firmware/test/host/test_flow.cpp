#include <doctest/doctest.h>

#include <cmath>

#include "carbontrack/config.h"
#include "carbontrack/flow.h"

using namespace carbontrack;
using namespace carbontrack::flow;

TEST_CASE("molar mass per EPA Method 3 and 2") {
    // Dry air: 20.9 % O2, balance N2 → 0.32·20.9 + 0.28·79.1 = 28.836
    CHECK(dry_molar_mass_g_mol(0.0, 20.9) == doctest::Approx(28.836));
    // 12 % CO2, 8 % O2: 0.44·12 + 0.32·8 + 0.28·80 = 30.24
    CHECK(dry_molar_mass_g_mol(12.0, 8.0) == doctest::Approx(30.24));
    CHECK(wet_molar_mass_g_mol(30.24, 0.15) == doctest::Approx(30.24 * 0.85 + 18.0 * 0.15));
    CHECK(wet_molar_mass_g_mol(30.0, 0.0) == 30.0);
}

TEST_CASE("O2 from CO2 for wood, clamped") {
    CHECK(o2_from_co2_pct(0.0, 19.8) == doctest::Approx(20.9));
    CHECK(o2_from_co2_pct(19.8, 19.8) == doctest::Approx(0.0));
    CHECK(o2_from_co2_pct(25.0, 19.8) == 0.0);
    CHECK(o2_from_co2_pct(9.9, 19.8) == doctest::Approx(10.45));
}

TEST_CASE("density: ideal gas") {
    // Air at 0 °C, 101325 Pa, 28.96 g/mol ≈ 1.292 kg/m³
    CHECK(gas_density_kg_m3(101325.0, 0.0, 28.96) == doctest::Approx(1.2920).epsilon(1e-3));
    CHECK(std::isnan(gas_density_kg_m3(101325.0, -300.0, 28.96)));
    CHECK(std::isnan(gas_density_kg_m3(0.0, 20.0, 28.96)));
}

TEST_CASE("velocity: worked example against EPA Method 2 Eq 2-9 (metric, K_p = 34.97)") {
    // 8.45 % CO2 dry, B_ws 0.12, 186.4 °C, 79.65 kPa, Δp 50 Pa, S-type C_p 0.84.
    GasModel gas;  // moisture 0.12, dry basis, CO2max 19.8
    double m = stack_molar_mass_g_mol(84500.0, gas);
    CHECK(m == doctest::Approx(28.4114756).epsilon(1e-7));
    double rho = gas_density_kg_m3(79650.0, 186.4, m);
    CHECK(rho == doctest::Approx(0.59226029).epsilon(1e-7));
    Velocity v = pitot_velocity(50.0, rho, 0.84, 1.0);
    CHECK(v.flags == kVelocityNone);
    CHECK(v.velocity_m_s == doctest::Approx(10.9149809).epsilon(1e-7));
    // Eq 2-9 with Δp in mmH2O, P in mmHg, T in K: v = 34.97·C_p·sqrt(Δp·T/(P·M))
    double eq29 = 34.97 * 0.84 * std::sqrt((50.0 / 9.80665) * (186.4 + 273.15) / ((79650.0 / 133.322) * m));
    CHECK(v.velocity_m_s == doctest::Approx(eq29).epsilon(2e-4));  // K_p is rounded to 4 digits
}

TEST_CASE("velocity scales with profile factor and pitot coefficient") {
    double rho = 0.6;
    double base = pitot_velocity(40.0, rho, 1.0, 1.0).velocity_m_s;
    CHECK(base == doctest::Approx(std::sqrt(2.0 * 40.0 / 0.6)));
    CHECK(pitot_velocity(40.0, rho, 0.84, 1.0).velocity_m_s == doctest::Approx(0.84 * base));
    CHECK(pitot_velocity(40.0, rho, 1.0, 0.9).velocity_m_s == doctest::Approx(0.9 * base));
}

TEST_CASE("zero, tiny and negative differential pressure") {
    Velocity zero = pitot_velocity(0.0, 0.6, 0.84, 1.0);
    CHECK(zero.velocity_m_s == 0.0);
    CHECK(zero.flags == kVelocityBelowDeadband);
    Velocity noise = pitot_velocity(-0.1, 0.6, 0.84, 1.0);
    CHECK(noise.velocity_m_s == 0.0);
    CHECK(noise.flags == kVelocityBelowDeadband);
    Velocity reverse = pitot_velocity(-5.0, 0.6, 0.84, 1.0);
    CHECK(reverse.velocity_m_s == 0.0);
    CHECK(reverse.flags == kVelocityReverse);
    Velocity bad = pitot_velocity(10.0, NAN, 0.84, 1.0);
    CHECK(std::isnan(bad.velocity_m_s));
    CHECK(bad.flags == kVelocityBadInput);
    CHECK(pitot_velocity(NAN, 0.6, 0.84, 1.0).flags == kVelocityBadInput);
}

TEST_CASE("wet-basis CO2 reading is converted to dry for the molar mass") {
    GasModel wet;
    wet.co2_dry_basis = false;
    wet.moisture_fraction = 0.2;
    GasModel dry;
    dry.moisture_fraction = 0.2;
    // 8 % wet with 20 % water = 10 % dry
    CHECK(stack_molar_mass_g_mol(80000.0, wet) == doctest::Approx(stack_molar_mass_g_mol(100000.0, dry)));
}

TEST_CASE("barometric pressure at altitude (domain.md §1.1)") {
    CHECK(barometric_pressure_pa(0.0) == doctest::Approx(101325.0));
    CHECK(barometric_pressure_pa(1500.0) == doctest::Approx(84560.0).epsilon(2e-4));
    CHECK(barometric_pressure_pa(2000.0) == doctest::Approx(79500.0).epsilon(2e-4));
}

#include "carbontrack/flow.h"

#include <algorithm>
#include <cmath>

namespace carbontrack::flow {

double dry_molar_mass_g_mol(double co2_pct, double o2_pct, double co_pct) {
    double n2_pct = 100.0 - co2_pct - o2_pct - co_pct;
    return 0.44 * co2_pct + 0.32 * o2_pct + 0.28 * (n2_pct + co_pct);
}

double wet_molar_mass_g_mol(double dry_g_mol, double b_ws) {
    return dry_g_mol * (1.0 - b_ws) + kWaterMolarMass * b_ws;
}

double o2_from_co2_pct(double co2_dry_pct, double co2_max_pct) {
    if (!(co2_max_pct > 0.0)) return kO2Ambient_pct;
    return std::clamp(kO2Ambient_pct * (1.0 - co2_dry_pct / co2_max_pct), 0.0, kO2Ambient_pct);
}

double gas_density_kg_m3(double p_pa, double temp_c, double molar_mass_g_mol) {
    double temp_k = temp_c + kKelvinOffset;
    if (!(temp_k > 0.0) || !(p_pa > 0.0)) return NAN;
    return p_pa * (molar_mass_g_mol / 1000.0) / (kR * temp_k);
}

double stack_molar_mass_g_mol(double co2_ppm, const GasModel& gas) {
    double b_ws = std::clamp(gas.moisture_fraction, 0.0, 0.99);
    double co2_pct = std::max(co2_ppm, 0.0) / 1e4;
    double co2_dry_pct = gas.co2_dry_basis ? co2_pct : co2_pct / (1.0 - b_ws);
    co2_dry_pct = std::min(co2_dry_pct, 100.0);
    double o2_dry_pct = std::min(o2_from_co2_pct(co2_dry_pct, gas.co2_max_pct), 100.0 - co2_dry_pct);
    return wet_molar_mass_g_mol(dry_molar_mass_g_mol(co2_dry_pct, o2_dry_pct), b_ws);
}

Velocity pitot_velocity(double dp_pa, double density_kg_m3, double pitot_coefficient, double profile_factor,
                        double deadband_pa) {
    Velocity v;
    if (!std::isfinite(dp_pa) || !std::isfinite(density_kg_m3) || density_kg_m3 <= 0.0 ||
        !(pitot_coefficient > 0.0) || !(profile_factor > 0.0)) {
        v.flags = kVelocityBadInput;
        v.velocity_m_s = NAN;
        return v;
    }
    if (dp_pa <= deadband_pa) {
        v.flags = dp_pa < -deadband_pa ? kVelocityReverse : kVelocityBelowDeadband;
        return v;  // 0 m/s: no measurable forward flow
    }
    v.velocity_m_s = profile_factor * pitot_coefficient * std::sqrt(2.0 * dp_pa / density_kg_m3);
    return v;
}

}  // namespace carbontrack::flow

#include "carbontrack/sampling.h"

#include <algorithm>

namespace carbontrack {

void Channel::add(double v) {
    if (!std::isfinite(v)) {
        ++n_missing_;
        return;
    }
    if (v == last_) {
        if (++run_ >= stuck_after_ && stuck_after_ > 0) flags_ |= kFlagStuck;
    } else {
        last_ = v;
        run_ = 1;
    }
    raw_sum_ += v;
    if (!range_.contains(v)) {
        ++n_invalid_;  // excluded from the mean; flagged only if nothing plausible is left
        return;
    }
    ++n_valid_;
    sum_ += v;
    min_ = n_valid_ == 1 ? v : std::min(min_, v);
    max_ = n_valid_ == 1 ? v : std::max(max_, v);
}

ChannelSummary Channel::finish(uint32_t expected, double min_share) {
    ChannelSummary s;
    s.n_valid = n_valid_;
    s.n_invalid = n_invalid_;
    s.n_missing = n_missing_;
    s.flags = flags_;
    if (n_valid_ > 0) {
        s.mean = sum_ / n_valid_;
        s.min = min_;
        s.max = max_;
    } else if (n_invalid_ > 0) {
        // Nothing plausible: publish the raw mean so the server stores it flagged invalid
        // rather than the reading silently disappearing.
        s.mean = raw_sum_ / n_invalid_;
        s.flags |= kFlagNoValid | kFlagOutOfRange;
    }
    if (static_cast<double>(n_valid_ + n_invalid_) < min_share * expected) s.flags |= kFlagMissing;
    n_valid_ = n_invalid_ = n_missing_ = 0;
    sum_ = raw_sum_ = 0.0;
    min_ = max_ = NAN;
    flags_ = 0;
    return s;
}

IntervalAggregator::IntervalAggregator(const AggregatorSettings& s)
    : settings_(s),
      co2_(kCo2RangePpm, s.stuck_after),
      temp_(kFlueTempRangeC, s.stuck_after),
      // a stack at rest legitimately reads 0 m/s for hours: no stuck detection on velocity
      velocity_(kVelocityRangeMS, 0),
      pressure_(kPressureRangePa, s.stuck_after),
      // Δp is published raw for evidence: no stuck detection (0 Pa at rest), SDP810 ±500 Pa span
      dp_(kDpRangePa, 0) {}

void IntervalAggregator::add(const Sample& s) {
    co2_.add(s.co2_ppm);
    temp_.add(s.flue_temp_c);
    dp_.add(s.dp_pa);
    extra_flags_ |= s.flags & (kFlagSensorFault | kFlagWarmup);
    if (std::isfinite(s.pressure_pa)) pressure_seen_ = true;
    if (pressure_seen_) pressure_.add(s.pressure_pa);
    // Density from this sample's temperature, the stack (or site) pressure and the molar mass
    // implied by this sample's CO2; fall back to typical CO2 when the CO2 read failed.
    double p = std::isfinite(s.pressure_pa) && kPressureRangePa.contains(s.pressure_pa) ? s.pressure_pa
                                                                                           : settings_.site_pressure_pa;
    double co2 = std::isfinite(s.co2_ppm) && kCo2RangePpm.contains(s.co2_ppm) ? s.co2_ppm : 80000.0;
    double m = flow::stack_molar_mass_g_mol(co2, settings_.gas);
    double rho = flow::gas_density_kg_m3(p, s.flue_temp_c, m);
    flow::Velocity v = flow::pitot_velocity(s.dp_pa, rho, settings_.pitot_coefficient, settings_.profile_factor,
                                            settings_.dp_deadband_pa);
    if (v.flags & flow::kVelocityReverse) extra_flags_ |= kFlagReverseFlow;
    velocity_.add(v.velocity_m_s);  // NaN (bad Δp or temperature) counts as missing
}

IntervalResult IntervalAggregator::finish(uint32_t expected_samples) {
    IntervalResult r;
    double share = settings_.min_share;
    r.co2 = co2_.finish(expected_samples, share);
    r.temp = temp_.finish(expected_samples, share);
    r.velocity = velocity_.finish(expected_samples, share);
    r.pressure = pressure_.finish(expected_samples, share);
    r.dp = dp_.finish(expected_samples, share);
    r.flags = static_cast<uint16_t>(r.co2.flags | r.temp.flags | r.velocity.flags | extra_flags_ |
                                    (pressure_seen_ ? r.pressure.flags : 0));
    extra_flags_ = 0;
    r.has_reading = r.co2.has_value() && r.temp.has_value() && r.velocity.has_value();
    r.reading.co2_ppm = r.co2.mean;
    r.reading.flue_temp_c = r.temp.mean;
    r.reading.velocity_m_s = r.velocity.mean;
    r.reading.pressure_pa = r.pressure.mean;  // NaN (omitted) without a pressure sensor
    r.reading.dp_pa = r.dp.n_valid > 0 ? r.dp.mean : NAN;
    r.reading.flags = r.flags;
    return r;
}

}  // namespace carbontrack

namespace carbontrack {
namespace {
double round_to(double v, double scale) { return std::isfinite(v) ? std::round(v * scale) / scale : v; }
}  // namespace

Reading round_for_publish(Reading r) {
    r.co2_ppm = round_to(r.co2_ppm, 10.0);
    r.flue_temp_c = round_to(r.flue_temp_c, 100.0);
    r.velocity_m_s = round_to(r.velocity_m_s, 1000.0);
    r.pressure_pa = round_to(r.pressure_pa, 10.0);
    r.dp_pa = round_to(r.dp_pa, 100.0);
    return r;
}
}  // namespace carbontrack

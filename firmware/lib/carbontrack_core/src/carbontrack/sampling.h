// Averaging of samples over one publish interval, with plausibility flags.
//
// Each channel takes raw samples (NaN = the sensor read failed) and keeps count, mean, min and
// max of the plausible ones. Flags tell what went wrong: out-of-range samples (excluded from the
// mean), a stuck sensor (the same value N times in a row), missing samples (fewer than the
// expected share arrived), no data at all.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "carbontrack/flow.h"
#include "carbontrack/payload.h"

namespace carbontrack {

// Reading flags, bit values of contract v1.1 (tests/golden, docs/payload.md). STUCK, NO_VALID,
// REVERSE_FLOW, SENSOR_FAULT, WARMUP and OUT_OF_RANGE make the reading not valid on the server
// (stored, not counted); MISSING and CLOCK_ESTIMATED are informational.
enum QualityFlags : uint16_t {
    kFlagStuck = 1u << 0,           // the same value repeated for the stuck threshold
    kFlagMissing = 1u << 1,         // fewer samples than the minimum share of the expected count
    kFlagNoValid = 1u << 2,         // samples arrived but none was plausible; mean is of raw samples
    kFlagReverseFlow = 1u << 3,     // pitot Δp negative beyond the deadband
    kFlagSensorFault = 1u << 4,     // a sensor reported a fault (thermocouple open/short, NDIR error)
    kFlagWarmup = 1u << 5,          // the NDIR sensor is still warming up
    kFlagOutOfRange = 1u << 6,      // the interval's value is outside the plausible range
    kFlagClockEstimated = 1u << 7,  // taken before time sync, dated later from the monotonic clock
};
// Flags that make a reading not valid (contract v1.1).
constexpr uint16_t kInvalidatingFlags =
    kFlagStuck | kFlagNoValid | kFlagReverseFlow | kFlagSensorFault | kFlagWarmup | kFlagOutOfRange;

struct Range {
    double min;
    double max;
    bool contains(double v) const { return v >= min && v <= max; }
};

// Plausible ranges (issue 6): 0–30 % NDIR, flue gas, pitot velocity, absolute pressure.
constexpr Range kCo2RangePpm{0.0, 300000.0};
constexpr Range kFlueTempRangeC{-40.0, 600.0};
constexpr Range kVelocityRangeMS{0.0, 40.0};
constexpr Range kPressureRangePa{50000.0, 110000.0};
constexpr Range kDpRangePa{-500.0, 500.0};  // SDP810-500Pa span

struct ChannelSummary {
    uint32_t n_valid = 0;    // plausible samples
    uint32_t n_invalid = 0;  // out of range
    uint32_t n_missing = 0;  // failed reads (NaN)
    double mean = NAN;       // of the plausible samples; of all raw samples if none was plausible
    double min = NAN;
    double max = NAN;
    uint16_t flags = 0;
    bool has_value() const { return std::isfinite(mean); }
};

class Channel {
  public:
    Channel(Range range, uint32_t stuck_after) : range_(range), stuck_after_(stuck_after) {}

    void add(double v);
    // Summary of the interval; `expected` samples were scheduled, fewer than
    // `min_share`·expected arrived → kFlagMissing. Starts a new interval; the stuck run
    // continues across intervals.
    ChannelSummary finish(uint32_t expected, double min_share = 0.5);

  private:
    Range range_;
    uint32_t stuck_after_;
    uint32_t n_valid_ = 0, n_invalid_ = 0, n_missing_ = 0;
    double sum_ = 0.0, raw_sum_ = 0.0, min_ = NAN, max_ = NAN;
    uint16_t flags_ = 0;
    double last_ = NAN;
    uint32_t run_ = 0;
};

// One raw sample set from the sensors.
struct Sample {
    double co2_ppm = NAN;
    double flue_temp_c = NAN;
    double dp_pa = NAN;        // pitot differential pressure
    double pressure_pa = NAN;  // absolute stack pressure; NaN when no sensor is fitted
    uint16_t flags = 0;        // kFlagSensorFault / kFlagWarmup set by the drivers for this sample
};

struct AggregatorSettings {
    double pitot_coefficient = 0.84;
    double profile_factor = 1.0;
    double site_pressure_pa = 101325.0;  // used for the density when no pressure sensor
    double dp_deadband_pa = 0.2;
    flow::GasModel gas;
    uint32_t stuck_after = 30;  // identical consecutive samples that mean "stuck"
    double min_share = 0.5;
};

struct IntervalResult {
    bool has_reading = false;  // false: some required channel had no sample at all
    Reading reading;           // seq and ts are left for the caller
    uint16_t flags = 0;        // OR of the channel flags
    ChannelSummary co2, temp, velocity, pressure, dp;
};

// Turns per-sample values into one reading per interval: the velocity is computed per sample
// (sqrt is non-linear, so the mean of velocities, as in a Method 2 traverse, not of Δp).
class IntervalAggregator {
  public:
    explicit IntervalAggregator(const AggregatorSettings& s);
    void add(const Sample& s);
    IntervalResult finish(uint32_t expected_samples);
    const AggregatorSettings& settings() const { return settings_; }

  private:
    AggregatorSettings settings_;
    Channel co2_, temp_, velocity_, pressure_, dp_;
    uint16_t extra_flags_ = 0;
    bool pressure_seen_ = false;
};

}  // namespace carbontrack

namespace carbontrack {
// Round to the published precision (CO2 0.1 ppm, temperature 0.01 °C, velocity 0.001 m/s,
// pressure 0.1 Pa): far below sensor accuracy, and shorter payloads carry more readings.
// Division by a power of ten is correctly rounded, so 1864/10 is exactly the double 186.4.
Reading round_for_publish(Reading r);
}  // namespace carbontrack

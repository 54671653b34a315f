#include "carbontrack/node.h"

#include <cmath>

namespace carbontrack {

AggregatorSettings aggregator_settings(const NodeConfig& cfg) {
    AggregatorSettings s;
    s.pitot_coefficient = cfg.pitot_coefficient;
    s.profile_factor = cfg.velocity_profile_factor;
    s.site_pressure_pa = barometric_pressure_pa(cfg.altitude_m);
    s.gas.moisture_fraction = cfg.moisture_fraction;
    s.gas.co2_dry_basis = cfg.co2_dry_basis;
    return s;
}

NodeCore::NodeCore(const NodeConfig& cfg, ReadingQueue& buffer, SequenceCounter& seq, size_t pending_capacity,
                   Sender::Mode mode)
    : cfg_(cfg),
      buffer_(buffer),
      seq_(seq),
      aggregator_(aggregator_settings(cfg)),
      pending_(pending_capacity),
      sender_(buffer, cfg.max_payload_bytes, mode),
      expected_samples_(cfg.sample_period_s ? cfg.publish_interval_s / cfg.sample_period_s : 1) {}

void NodeCore::store(const Reading& r) {
    if (!buffer_.push(r)) ++storage_errors_;
}

bool NodeCore::end_interval(uint64_t mono_ms, double wall_now_s, IntervalResult* out) {
    IntervalResult result = aggregator_.finish(expected_samples_);
    if (out) *out = result;
    if (!result.has_reading) {
        ++empty_intervals_;  // a gap the server shows as missing data
        return false;
    }
    Reading r = round_for_publish(result.reading);
    r.seq = seq_.next();
    if (wall_time_plausible(wall_now_s)) {
        r.ts = std::round(wall_now_s * 1000.0) / 1000.0;
        store(r);
    } else if (buffer_.keeps_undated()) {
        // Kept in flash with its monotonic stamp, dated once the clock is known.
        if (!buffer_.push_undated(r, mono_ms)) ++storage_errors_;
    } else {
        pending_.hold(r, mono_ms);
    }
    return true;
}

size_t NodeCore::time_known(double wall_now_s, uint64_t mono_now_ms) {
    if (!wall_time_plausible(wall_now_s)) return 0;
    buffer_.set_clock(wall_now_s - static_cast<double>(mono_now_ms) / 1000.0);
    return pending_.release(wall_now_s, mono_now_ms, [this](const Reading& held) {
        Reading r = held;
        r.ts = std::round(r.ts * 1000.0) / 1000.0;  // ms resolution, like live readings
        r.flags = static_cast<uint16_t>(r.flags | kFlagClockEstimated);
        store(r);
    });
}

FlushResult NodeCore::flush(Envelope env, const PublishFn& publish, size_t max_messages, uint64_t now_ms) {
    env.interval_s = cfg_.publish_interval_s;
    return sender_.flush(std::move(env), publish, now_ms, max_messages, static_cast<uint32_t>(pending_.size()));
}

}  // namespace carbontrack

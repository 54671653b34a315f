// Wall-clock stamping for a node without an RTC.
//
// Samples are taken against a monotonic clock (esp_timer, ms since boot). Until NTP has set the
// wall clock, finished readings wait in a RAM queue with their monotonic time; once the time is
// known each is stamped ts = wall_now − (mono_now − mono_sample) and moved on to the buffer.
// A reboot before the first sync loses that queue (it has no usable time base after a reboot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "carbontrack/payload.h"

namespace carbontrack {

// Wall-clock times before this are "not set" (the ESP32 starts at 1970; 2024-01-01T00:00Z).
constexpr double kMinPlausibleWallTime = 1704067200.0;

inline bool wall_time_plausible(double unix_s) { return unix_s >= kMinPlausibleWallTime; }

// ts of a sample taken at `mono_sample_ms`, given that `wall_now_s` is the time at `mono_now_ms`.
inline double stamp_time(double wall_now_s, uint64_t mono_now_ms, uint64_t mono_sample_ms) {
    return wall_now_s - static_cast<double>(mono_now_ms - mono_sample_ms) / 1000.0;
}

class PendingStamps {
  public:
    explicit PendingStamps(size_t capacity) : capacity_(capacity) {}

    // Hold a reading (ts unknown) taken at `mono_ms`; when full the oldest is dropped and counted.
    void hold(const Reading& r, uint64_t mono_ms);
    // Stamp every held reading, oldest first, and hand it to `sink`; returns how many.
    size_t release(double wall_now_s, uint64_t mono_now_ms, const std::function<void(const Reading&)>& sink);

    size_t size() const { return held_.size(); }
    uint32_t dropped() const { return dropped_; }

  private:
    struct Held {
        Reading reading;
        uint64_t mono_ms;
    };
    size_t capacity_;
    std::deque<Held> held_;
    uint32_t dropped_ = 0;
};

}  // namespace carbontrack

// Contract v1.1 messages about the node itself: the JSON status (retained, `.../status`) and the
// server's ack (`.../ack`: highest contiguous committed seq and the server's time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace carbontrack {

struct HealthCounters {
    uint32_t dropped = 0;           // readings lost: buffer full, storage full, undatable
    uint32_t storage_errors = 0;    // flash operations that failed (append, remove, list)
    uint32_t corrupt = 0;           // records that failed their CRC at boot
    uint32_t empty = 0;             // intervals without a reading (a sensor gave nothing)
    uint32_t ntp_failures = 0;      // NTP attempts that did not set the clock
    uint32_t publish_timeouts = 0;  // publishes without PUBACK in time
};

struct NodeStatus {
    std::string state = "online";
    std::string fw;
    std::string reset_reason;  // POWERON, SW, PANIC, INT_WDT, TASK_WDT, BROWNOUT, ... (reset_reason_name)
    uint32_t free_heap = 0;
    uint32_t min_free_heap = 0;
    bool safe_mode = false;
    HealthCounters counters;
};

std::string encode_status(const NodeStatus& s);

// Name of an ESP-IDF esp_reset_reason_t value (0..10 as in ESP-IDF 4.4), "UNKNOWN" otherwise.
const char* reset_reason_name(int esp_reset_reason);

struct Ack {
    uint64_t seq = 0;
    double ts = 0.0;      // server's Unix time; NaN when absent
    bool has_ts = false;
};

// Parse `{"seq": 1041, "ts": 1764331260.5}`; false for anything else (seq must be a
// non-negative integer literal; ts a finite number when present).
bool parse_ack(std::string_view text, Ack& out);

}  // namespace carbontrack

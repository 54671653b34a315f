// Telemetry payload encoder and batch splitter (DESIGN.md "Sensor contract", docs/payload.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace carbontrack {

// Hard limit of the contract: a telemetry payload is at most 64 KiB.
constexpr size_t kMaxPayloadBytes = 65536;
// The node's own cap (config `max_payload`): 16 KiB keeps heap for TLS on an ESP32 without PSRAM.
constexpr size_t kMaxNodePayloadBytes = 16384;

// One published reading: interval means of the channels, stamped with wall-clock time.
struct Reading {
    uint64_t seq = 0;
    double ts = 0.0;  // Unix seconds, UTC
    double co2_ppm = 0.0;
    double flue_temp_c = 0.0;
    double velocity_m_s = 0.0;
    double pressure_pa = NAN;  // optional absolute stack pressure; NaN = no sensor, key omitted
    double dp_pa = NAN;        // optional raw pitot Δp (interval mean); NaN = key omitted
    uint16_t flags = 0;        // contract v1.1 reading flags (sampling.h QualityFlags)

    bool has_pressure() const { return std::isfinite(pressure_pa); }
    bool has_dp() const { return std::isfinite(dp_pa); }
};

// The node's conversion parameters, sent for evidence (contract v1.1 `conv`).
struct Conversion {
    bool present = false;
    double stack_diameter_m = NAN;  // NaN = key omitted (the node does not know it)
    double velocity_profile_factor = NAN;
    double pitot_k = NAN;
};

// The per-message fields around the readings.
struct Envelope {
    Envelope() = default;
    Envelope(std::string device_id_, std::string fw_, int32_t rssi_, uint64_t uptime_s_, uint32_t buffered_)
        : device_id(std::move(device_id_)), fw(std::move(fw_)), rssi(rssi_), uptime_s(uptime_s_), buffered(buffered_) {}

    std::string device_id;
    std::string fw;
    int32_t rssi = 0;       // dBm
    uint64_t uptime_s = 0;
    uint32_t buffered = 0;  // readings still waiting on the node after this message
    // Contract v1.1: `interval_s` and per-reading `flags` (and dp_pa/conv when present).
    // false writes the v1 form (the golden telemetry_firmware_edge.json is v1).
    bool v11 = true;
    uint32_t interval_s = 60;
    Conversion conv;
};

// `{"seq": .., "ts": .., ...}` for one reading, keys in contract order; `v11` adds dp_pa and flags.
std::string encode_reading(const Reading& r, bool v11 = true);
// Append the same to `out` (no other allocation when `out` has the capacity).
void append_reading(std::string& out, const Reading& r, bool v11 = true);
// Everything before the first reading: `{"device_id": .., ..., "readings": [`.
void append_envelope_head(std::string& out, const Envelope& env);
constexpr size_t kPayloadTailBytes = 2;  // "]}"
constexpr size_t kPayloadSeparatorBytes = 2;  // ", " between readings

// The whole telemetry JSON for `n` readings starting at `readings`.
std::string encode_payload(const Envelope& env, const Reading* readings, size_t n);

// Byte size of encode_payload(env, readings, n) without building it.
size_t payload_size(const Envelope& env, const Reading* readings, size_t n);

// How many readings from the front of `readings[0..n)` fit in one payload of at most
// `max_bytes` bytes (0 when not even one fits). Takes as many as fit, in order.
size_t fit_readings(const Envelope& env, const Reading* readings, size_t n, size_t max_bytes = kMaxPayloadBytes);

}  // namespace carbontrack

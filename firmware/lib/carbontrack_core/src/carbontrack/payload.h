// Telemetry payload encoder and batch splitter (DESIGN.md "Sensor contract", docs/payload.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

namespace carbontrack {

// Hard limit of the contract: a telemetry payload is at most 64 KiB.
constexpr size_t kMaxPayloadBytes = 65536;

// One published reading: interval means of the channels, stamped with wall-clock time.
struct Reading {
    uint64_t seq = 0;
    double ts = 0.0;  // Unix seconds, UTC
    double co2_ppm = 0.0;
    double flue_temp_c = 0.0;
    double velocity_m_s = 0.0;
    double pressure_pa = NAN;  // optional absolute stack pressure; NaN = no sensor, key omitted
    uint16_t flags = 0;        // plausibility flags (sampling.h); kept on the node, not published

    bool has_pressure() const { return std::isfinite(pressure_pa); }
};

// The per-message fields around the readings.
struct Envelope {
    std::string device_id;
    std::string fw;
    int32_t rssi = 0;       // dBm
    uint64_t uptime_s = 0;
    uint32_t buffered = 0;  // readings still waiting on the node after this message
};

// `{"seq": .., "ts": .., ...}` for one reading, keys in contract order.
std::string encode_reading(const Reading& r);

// The whole telemetry JSON for `n` readings starting at `readings`.
std::string encode_payload(const Envelope& env, const Reading* readings, size_t n);

// Byte size of encode_payload(env, readings, n) without building it.
size_t payload_size(const Envelope& env, const Reading* readings, size_t n);

// How many readings from the front of `readings[0..n)` fit in one payload of at most
// `max_bytes` bytes (0 when not even one fits). Takes as many as fit, in order.
size_t fit_readings(const Envelope& env, const Reading* readings, size_t n, size_t max_bytes = kMaxPayloadBytes);

}  // namespace carbontrack

#include "carbontrack/payload.h"

#include "carbontrack/json.h"

namespace carbontrack {

namespace {

// Everything before the first reading: {"device_id": .., ..., "readings": [
std::string envelope_head(const Envelope& env) {
    std::string out = "{\"device_id\": ";
    json::append_string(out, env.device_id);
    out += ", \"fw\": ";
    json::append_string(out, env.fw);
    out += ", \"rssi\": ";
    json::append_int(out, env.rssi);
    out += ", \"uptime_s\": ";
    json::append_uint(out, env.uptime_s);
    out += ", \"buffered\": ";
    json::append_uint(out, env.buffered);
    out += ", \"readings\": [";
    return out;
}

constexpr const char* kTail = "]}";
constexpr size_t kTailLen = 2;
constexpr size_t kSeparatorLen = 2;  // ", " between readings

}  // namespace

std::string encode_reading(const Reading& r) {
    std::string out = "{\"seq\": ";
    json::append_uint(out, r.seq);
    out += ", \"ts\": ";
    json::append_number(out, r.ts);
    out += ", \"co2_ppm\": ";
    json::append_number(out, r.co2_ppm);
    out += ", \"flue_temp_c\": ";
    json::append_number(out, r.flue_temp_c);
    out += ", \"velocity_m_s\": ";
    json::append_number(out, r.velocity_m_s);
    if (r.has_pressure()) {
        out += ", \"pressure_pa\": ";
        json::append_number(out, r.pressure_pa);
    }
    out += "}";
    return out;
}

std::string encode_payload(const Envelope& env, const Reading* readings, size_t n) {
    std::string out = envelope_head(env);
    for (size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        out += encode_reading(readings[i]);
    }
    out += kTail;
    return out;
}

size_t payload_size(const Envelope& env, const Reading* readings, size_t n) {
    size_t size = envelope_head(env).size() + kTailLen;
    for (size_t i = 0; i < n; ++i) size += encode_reading(readings[i]).size() + (i ? kSeparatorLen : 0);
    return size;
}

size_t fit_readings(const Envelope& env, const Reading* readings, size_t n, size_t max_bytes) {
    size_t size = envelope_head(env).size() + kTailLen;
    size_t taken = 0;
    for (; taken < n; ++taken) {
        size_t add = encode_reading(readings[taken]).size() + (taken ? kSeparatorLen : 0);
        if (size + add > max_bytes) break;
        size += add;
    }
    return taken;
}

}  // namespace carbontrack

#include "carbontrack/payload.h"

#include <cmath>

#include "carbontrack/json.h"

namespace carbontrack {

namespace {

std::string envelope_head(const Envelope& env) {
    std::string out;
    append_envelope_head(out, env);
    return out;
}

constexpr const char* kTail = "]}";
constexpr size_t kTailLen = kPayloadTailBytes;
constexpr size_t kSeparatorLen = kPayloadSeparatorBytes;

void append_optional(std::string& out, const char* key, double v, bool& first) {
    if (!std::isfinite(v)) return;
    if (!first) out += ", ";
    first = false;
    json::append_string(out, key);
    out += ": ";
    json::append_number(out, v);
}

}  // namespace

void append_envelope_head(std::string& out, const Envelope& env) {
    out += "{\"device_id\": ";
    json::append_string(out, env.device_id);
    out += ", \"fw\": ";
    json::append_string(out, env.fw);
    out += ", \"rssi\": ";
    json::append_int(out, env.rssi);
    out += ", \"uptime_s\": ";
    json::append_uint(out, env.uptime_s);
    out += ", \"buffered\": ";
    json::append_uint(out, env.buffered);
    if (env.v11) {
        out += ", \"interval_s\": ";
        json::append_uint(out, env.interval_s);
        const Conversion& c = env.conv;
        if (c.present && (std::isfinite(c.stack_diameter_m) || std::isfinite(c.velocity_profile_factor) ||
                          std::isfinite(c.pitot_k))) {
            out += ", \"conv\": {";
            bool first = true;
            append_optional(out, "stack_diameter_m", c.stack_diameter_m, first);
            append_optional(out, "velocity_profile_factor", c.velocity_profile_factor, first);
            append_optional(out, "pitot_k", c.pitot_k, first);
            out += "}";
        }
    }
    out += ", \"readings\": [";
}

std::string encode_reading(const Reading& r, bool v11) {
    std::string out;
    append_reading(out, r, v11);
    return out;
}

void append_reading(std::string& out, const Reading& r, bool v11) {
    out += "{\"seq\": ";
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
    if (v11) {
        if (r.has_dp()) {
            out += ", \"dp_pa\": ";
            json::append_number(out, r.dp_pa);
        }
        out += ", \"flags\": ";
        json::append_uint(out, r.flags);
    }
    out += "}";
}

std::string encode_payload(const Envelope& env, const Reading* readings, size_t n) {
    std::string out = envelope_head(env);
    for (size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        append_reading(out, readings[i], env.v11);
    }
    out += kTail;
    return out;
}

size_t payload_size(const Envelope& env, const Reading* readings, size_t n) {
    size_t size = envelope_head(env).size() + kTailLen;
    for (size_t i = 0; i < n; ++i) size += encode_reading(readings[i], env.v11).size() + (i ? kSeparatorLen : 0);
    return size;
}

size_t fit_readings(const Envelope& env, const Reading* readings, size_t n, size_t max_bytes) {
    size_t size = envelope_head(env).size() + kTailLen;
    size_t taken = 0;
    for (; taken < n; ++taken) {
        size_t add = encode_reading(readings[taken], env.v11).size() + (taken ? kSeparatorLen : 0);
        if (size + add > max_bytes) break;
        size += add;
    }
    return taken;
}

}  // namespace carbontrack

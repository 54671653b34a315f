#include "carbontrack/config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "carbontrack/payload.h"

namespace carbontrack {

bool valid_identifier(std::string_view s, size_t max_len) {
    if (s.empty() || s.size() > max_len) return false;
    for (char c : s) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok) return false;
    }
    return true;
}

bool parse_broker_url(std::string_view url, BrokerUrl& out, std::string* error) {
    auto fail = [&](const char* msg) {
        if (error) *error = msg;
        return false;
    };
    BrokerUrl r;
    std::string_view rest;
    if (url.substr(0, 8) == "mqtts://") {
        r.tls = true;
        r.port = 8883;
        rest = url.substr(8);
    } else if (url.substr(0, 7) == "mqtt://") {
        r.port = 1883;
        rest = url.substr(7);
    } else {
        return fail("broker URL must start with mqtt:// or mqtts://");
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('@') != std::string_view::npos) return fail("put credentials in mqtt_user/mqtt_pass, not in the URL");
    if (rest.find('/') != std::string_view::npos) return fail("broker URL must not have a path");
    size_t colon = rest.rfind(':');
    std::string_view host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
        std::string port(rest.substr(colon + 1));
        char* end = nullptr;
        long p = port.empty() ? 0 : std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end != '\0' || p < 1 || p > 65535) return fail("broker port must be 1..65535");
        r.port = static_cast<uint16_t>(p);
    }
    if (host.empty()) return fail("broker URL has no host");
    r.host = std::string(host);
    out = r;
    return true;
}

std::vector<std::string> validate(const NodeConfig& c) {
    std::vector<std::string> errors;
    if (!valid_identifier(c.device_id, 40)) errors.push_back("device_id must be 1-40 characters of A-Z a-z 0-9 _ . -");
    if (!valid_identifier(c.factory_code, 16)) errors.push_back("factory_code must be 1-16 characters of A-Z a-z 0-9 _ . -");
    {
        const std::string& p = c.topic_prefix;
        bool bad = p.empty() || p.size() > 64 || p.front() == '/' || p.back() == '/' ||
                   p.find_first_of("+#") != std::string::npos || p.find("//") != std::string::npos ||
                   p.front() == '$';
        if (bad) errors.push_back("topic_prefix must be non-empty, without + # or $, leading/trailing or double /");
    }
    BrokerUrl broker;
    std::string why;
    if (!parse_broker_url(c.broker_url, broker, &why)) errors.push_back("broker_url: " + why);
    if (c.mqtt_username.empty() || c.mqtt_password.empty())
        errors.push_back("mqtt_user and mqtt_pass are required (per-device credentials)");
    if (c.wifi_ssid.empty()) errors.push_back("wifi_ssid is required");
    if (c.publish_interval_s < 10 || c.publish_interval_s > 3600) errors.push_back("interval_s must be 10..3600");
    if (c.sample_period_s < 1 || c.sample_period_s > c.publish_interval_s)
        errors.push_back("sample_s must be 1..interval_s");
    if (!(c.velocity_profile_factor >= 0.5 && c.velocity_profile_factor <= 1.5))
        errors.push_back("profile_factor must be 0.5..1.5");
    if (!(c.pitot_coefficient >= 0.5 && c.pitot_coefficient <= 1.2)) errors.push_back("pitot_cp must be 0.5..1.2");
    if (!(c.moisture_fraction >= 0.0 && c.moisture_fraction < 0.5)) errors.push_back("moisture must be 0..0.5");
    if (!(c.altitude_m >= -500.0 && c.altitude_m <= 5000.0)) errors.push_back("altitude_m must be -500..5000");
    // 16 KiB, not the contract's 64 KiB: the payload buffer is reserved whole next to TLS.
    if (c.max_payload_bytes < 1024 || c.max_payload_bytes > kMaxNodePayloadBytes)
        errors.push_back("max_payload must be 1024..16384 bytes");
    if (c.buffer_capacity < 10) errors.push_back("buffer_capacity must be at least 10 readings");
    if (c.ntp_server.empty()) errors.push_back("ntp_server is required");
    return errors;
}

void apply_node_caps(NodeConfig& cfg) {
    if (cfg.max_payload_bytes > kMaxNodePayloadBytes) cfg.max_payload_bytes = kMaxNodePayloadBytes;
}

std::string topic(const NodeConfig& cfg, TopicKind kind) {
    const char* leaf = kind == TopicKind::Telemetry ? "telemetry"
                       : kind == TopicKind::Status  ? "status"
                       : kind == TopicKind::Cmd     ? "cmd"
                       : kind == TopicKind::CmdResult ? "cmd/result"
                                                      : "ack";
    return cfg.topic_prefix + "/" + cfg.factory_code + "/" + cfg.device_id + "/" + leaf;
}

double barometric_pressure_pa(double altitude_m) {
    return 101325.0 * std::pow(1.0 - 2.25577e-5 * altitude_m, 5.25588);
}

}  // namespace carbontrack

namespace carbontrack {

namespace {

bool parse_double(std::string_view text, double& out) {
    std::string s(text);
    if (s.empty()) return false;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (*end != '\0' || !std::isfinite(v)) return false;
    out = v;
    return true;
}

bool parse_u32(std::string_view text, uint32_t& out) {
    std::string s(text);
    if (s.empty() || s[0] == '-') return false;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (*end != '\0' || v > 0xFFFFFFFFull) return false;
    out = static_cast<uint32_t>(v);
    return true;
}

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

}  // namespace

const std::vector<std::string>& config_keys() {
    static const std::vector<std::string> keys = {
        "device_id", "factory",   "prefix",      "broker",         "mqtt_user",  "mqtt_pass",
        "wifi_ssid", "wifi_pass", "ntp",         "interval_s",     "sample_s",   "profile_factor",
        "pitot_cp",  "moisture",  "dry_basis",   "altitude_m",     "max_payload", "buf_cap"};
    return keys;
}

bool set_config_value(NodeConfig& c, std::string_view key, std::string_view value, std::string* error) {
    auto bad = [&](const char* what) {
        if (error) *error = std::string(key) + ": " + what;
        return false;
    };
    std::string v(value);
    double d = 0.0;
    uint32_t u = 0;
    if (key == "device_id") c.device_id = v;
    else if (key == "factory") c.factory_code = v;
    else if (key == "prefix") c.topic_prefix = v;
    else if (key == "broker") c.broker_url = v;
    else if (key == "mqtt_user") c.mqtt_username = v;
    else if (key == "mqtt_pass") c.mqtt_password = v;
    else if (key == "wifi_ssid") c.wifi_ssid = v;
    else if (key == "wifi_pass") c.wifi_password = v;
    else if (key == "ntp") c.ntp_server = v;
    else if (key == "interval_s" || key == "sample_s" || key == "max_payload" || key == "buf_cap") {
        // `set` commands carry numbers as JSON floats ("120.0"): accept integral doubles too.
        if (!parse_u32(value, u)) {
            if (!parse_double(value, d) || d < 0 || d > 4294967295.0 || d != std::floor(d)) return bad("not a whole number");
            u = static_cast<uint32_t>(d);
        }
        if (key == "interval_s") c.publish_interval_s = u;
        else if (key == "sample_s") c.sample_period_s = u;
        else if (key == "max_payload") c.max_payload_bytes = u;
        else c.buffer_capacity = u;
    } else if (key == "profile_factor" || key == "pitot_cp" || key == "moisture" || key == "altitude_m") {
        if (!parse_double(value, d)) return bad("not a number");
        if (key == "profile_factor") c.velocity_profile_factor = d;
        else if (key == "pitot_cp") c.pitot_coefficient = d;
        else if (key == "moisture") c.moisture_fraction = d;
        else c.altitude_m = d;
    } else if (key == "dry_basis") {
        if (v == "1" || v == "true") c.co2_dry_basis = true;
        else if (v == "0" || v == "false") c.co2_dry_basis = false;
        else return bad("must be 1/0 or true/false");
    } else {
        return bad("unknown key");
    }
    return true;
}

std::string get_config_value(const NodeConfig& c, std::string_view key, bool reveal_secrets) {
    auto secret = [&](const std::string& s) { return reveal_secrets || s.empty() ? s : std::string("********"); };
    if (key == "device_id") return c.device_id;
    if (key == "factory") return c.factory_code;
    if (key == "prefix") return c.topic_prefix;
    if (key == "broker") return c.broker_url;
    if (key == "mqtt_user") return c.mqtt_username;
    if (key == "mqtt_pass") return secret(c.mqtt_password);
    if (key == "wifi_ssid") return c.wifi_ssid;
    if (key == "wifi_pass") return secret(c.wifi_password);
    if (key == "ntp") return c.ntp_server;
    if (key == "interval_s") return std::to_string(c.publish_interval_s);
    if (key == "sample_s") return std::to_string(c.sample_period_s);
    if (key == "profile_factor") return fmt(c.velocity_profile_factor);
    if (key == "pitot_cp") return fmt(c.pitot_coefficient);
    if (key == "moisture") return fmt(c.moisture_fraction);
    if (key == "dry_basis") return c.co2_dry_basis ? "1" : "0";
    if (key == "altitude_m") return fmt(c.altitude_m);
    if (key == "max_payload") return std::to_string(c.max_payload_bytes);
    if (key == "buf_cap") return std::to_string(c.buffer_capacity);
    return "";
}

}  // namespace carbontrack

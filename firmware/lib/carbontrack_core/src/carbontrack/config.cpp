#include "carbontrack/config.h"

#include <cmath>
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
    if (c.max_payload_bytes < 1024 || c.max_payload_bytes > kMaxPayloadBytes)
        errors.push_back("max_payload must be 1024..65536 bytes");
    if (c.buffer_capacity < 10) errors.push_back("buffer_capacity must be at least 10 readings");
    if (c.ntp_server.empty()) errors.push_back("ntp_server is required");
    return errors;
}

std::string topic(const NodeConfig& cfg, TopicKind kind) {
    const char* leaf = kind == TopicKind::Telemetry ? "telemetry" : kind == TopicKind::Status ? "status" : "cmd";
    return cfg.topic_prefix + "/" + cfg.factory_code + "/" + cfg.device_id + "/" + leaf;
}

double barometric_pressure_pa(double altitude_m) {
    return 101325.0 * std::pow(1.0 - 2.25577e-5 * altitude_m, 5.25588);
}

}  // namespace carbontrack

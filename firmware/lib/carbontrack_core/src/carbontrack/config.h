// Node configuration (kept in NVS on the device), its validation and the MQTT topics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace carbontrack {

struct BrokerUrl {
    bool tls = false;
    std::string host;
    uint16_t port = 0;
};

// mqtt://host[:port] (default 1883) or mqtts://host[:port] (default 8883). Credentials are
// separate config keys, never part of the URL. False with a message on anything else.
bool parse_broker_url(std::string_view url, BrokerUrl& out, std::string* error = nullptr);

struct NodeConfig {
    std::string device_id;                      // e.g. "KGW-S1"; must match the server's registry
    std::string factory_code;                   // e.g. "KGW"
    std::string topic_prefix = "carbontrack/v1";
    std::string broker_url;                     // mqtts://broker.example:8883
    std::string mqtt_username;                  // per-device credentials
    std::string mqtt_password;
    std::string wifi_ssid;
    std::string wifi_password;
    std::string ntp_server = "pool.ntp.org";
    uint32_t publish_interval_s = 60;           // one reading per interval
    uint32_t sample_period_s = 2;               // sensors read every this many seconds
    double velocity_profile_factor = 1.0;       // point → area-average velocity (Method 1/2 traverse)
    double pitot_coefficient = 0.84;            // S-type ≈ 0.84, L-type (Prandtl) ≈ 1.0
    double moisture_fraction = 0.12;            // B_ws for the gas molar mass
    bool co2_dry_basis = true;                  // extractive sampling with a chiller → dry CO2
    double altitude_m = 1800.0;                 // site barometric pressure when no pressure sensor
    uint32_t max_payload_bytes = 16384;         // ≤ 16384 (node cap; the contract allows 65536)
    uint32_t buffer_capacity = 10000;           // readings kept offline (flash)
};

// Human-readable problems, empty when the configuration is usable.
std::vector<std::string> validate(const NodeConfig& cfg);

// A name usable as one MQTT topic level and as a database key: 1..max chars of [A-Za-z0-9_.-].
bool valid_identifier(std::string_view s, size_t max_len);

enum class TopicKind { Telemetry, Status, Cmd, CmdResult, Ack };

// Bring a stored configuration within what this firmware supports instead of refusing to run:
// max_payload above the node cap (16 KiB; 1.0 allowed 64 KiB) is lowered to it.
void apply_node_caps(NodeConfig& cfg);

// <prefix>/<factory_code>/<device_id>/telemetry|status|cmd|cmd/result|ack
std::string topic(const NodeConfig& cfg, TopicKind kind);

// NVS keys (≤ 15 characters, the NVS limit) of the configuration, in display order.
const std::vector<std::string>& config_keys();
// Set one key from its text form (NVS string, serial console, `set` command); false with a
// message when the key is unknown or the value does not parse. Ranges are checked by validate().
bool set_config_value(NodeConfig& cfg, std::string_view key, std::string_view value, std::string* error = nullptr);
// Text form of one key; secrets (passwords) are masked unless `reveal_secrets`.
std::string get_config_value(const NodeConfig& cfg, std::string_view key, bool reveal_secrets = false);

// ISA barometric pressure at altitude (domain.md §1.1): 101325·(1 − 2.25577e-5·h)^5.25588 Pa.
double barometric_pressure_pa(double altitude_m);

}  // namespace carbontrack

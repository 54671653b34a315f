#include "link.h"

#include <esp_system.h>

#include "carbontrack/command.h"

using namespace carbontrack;

namespace {
constexpr uint32_t kBackoffBaseMs = 2000;
constexpr uint32_t kBackoffCapMs = 5 * 60 * 1000;  // 67 nodes after a broker restart: spread over minutes
constexpr int kKeepAliveS = 30;
constexpr int kMqttTimeoutMs = 10000;  // connect and PUBACK wait
constexpr size_t kMaxCommandsQueued = 4;
std::deque<std::string> g_commands;
}  // namespace

std::deque<std::string>* Link::commands_ = &g_commands;

Link::Link(const NodeConfig& cfg, const std::string& ca_pem)
    : cfg_(cfg),
      ca_pem_(ca_pem),
      // The write buffer bounds the telemetry payload: max_payload plus the fixed header.
      mqtt_(1024 + static_cast<int>(kMaxCommandBytes), static_cast<int>(cfg.max_payload_bytes) + 512),
      rng_(esp_random()),
      backoff_(kBackoffBaseMs, kBackoffCapMs, [this] { return rng_(); }) {
    parse_broker_url(cfg_.broker_url, broker_);
    telemetry_topic_ = topic(cfg_, TopicKind::Telemetry);
    status_topic_ = topic(cfg_, TopicKind::Status);
    cmd_topic_ = topic(cfg_, TopicKind::Cmd);
    client_id_ = "ct-" + cfg_.device_id;
}

void Link::begin() {
    WiFi.mode(WIFI_STA);
    WiFi.setAutoReconnect(true);
    WiFi.begin(cfg_.wifi_ssid.c_str(), cfg_.wifi_password.c_str());
    if (broker_.tls) {
        tls_.setCACert(ca_pem_.c_str());  // never setInsecure(): the broker must prove who it is
        tls_.setHandshakeTimeout(30);      // seconds; stays well inside the 60 s watchdog
        mqtt_.begin(broker_.host.c_str(), broker_.port, tls_);
    } else {
        mqtt_.begin(broker_.host.c_str(), broker_.port, plain_);
    }
    mqtt_.setKeepAlive(kKeepAliveS);
    mqtt_.setTimeout(kMqttTimeoutMs);
    mqtt_.setCleanSession(true);
    // Last will: the broker publishes a retained "offline" if we vanish without a goodbye.
    mqtt_.setWill(status_topic_.c_str(), "offline", true, 1);
    mqtt_.onMessageAdvanced(&Link::on_message);
}

bool Link::connect() {
    if (!mqtt_.connect(client_id_.c_str(), cfg_.mqtt_username.c_str(), cfg_.mqtt_password.c_str())) {
        log_w("MQTT connect to %s:%u failed: error %d, return code %d", broker_.host.c_str(), broker_.port,
              static_cast<int>(mqtt_.lastError()), static_cast<int>(mqtt_.returnCode()));
        return false;
    }
    mqtt_.publish(status_topic_.c_str(), "online", true, 1);  // retained: dashboards see it at once
    mqtt_.subscribe(cmd_topic_.c_str(), 1);
    ++connects_;
    log_i("MQTT connected to %s:%u as %s", broker_.host.c_str(), broker_.port, client_id_.c_str());
    return true;
}

void Link::loop(uint64_t mono_ms) {
    if (mqtt_.connected()) {
        mqtt_.loop();
        return;
    }
    if (WiFi.status() != WL_CONNECTED || mono_ms < next_attempt_ms_) return;
    if (connect()) {
        backoff_.reset();
    } else {
        next_attempt_ms_ = mono_ms + backoff_.next_delay_ms();
    }
}

bool Link::publish_telemetry(const std::string& payload) {
    if (!mqtt_.connected()) return false;
    // QoS 1: arduino-mqtt returns after the PUBACK (or false on timeout/disconnect).
    return mqtt_.publish(telemetry_topic_.c_str(), payload.c_str(), static_cast<int>(payload.size()), false, 1);
}

bool Link::next_command(std::string& payload) {
    if (g_commands.empty()) return false;
    payload = std::move(g_commands.front());
    g_commands.pop_front();
    return true;
}

void Link::on_message(MQTTClient*, char[], char bytes[], int length) {
    if (length <= 0 || static_cast<size_t>(length) > kMaxCommandBytes) return;
    if (commands_->size() >= kMaxCommandsQueued) commands_->pop_front();
    commands_->emplace_back(bytes, static_cast<size_t>(length));
}

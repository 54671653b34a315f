#include "link.h"

#include <esp_system.h>
#include <esp_task_wdt.h>

#include <cstring>

#include "carbontrack/command.h"

using namespace carbontrack;

namespace {
constexpr uint32_t kBackoffBaseMs = 2000;
constexpr uint32_t kBackoffCapMs = 5 * 60 * 1000;  // 67 nodes after a broker restart: spread over minutes
constexpr int kKeepAliveS = 30;
constexpr int kMqttTimeoutMs = 10000;  // connect and PUBACK wait
constexpr size_t kMaxCommandsQueued = 4;
constexpr size_t kMaxAcksQueued = 4;
std::deque<std::string> g_commands;
std::deque<std::string> g_acks;
}  // namespace

std::deque<std::string>* Link::commands_ = &g_commands;
std::deque<std::string>* Link::acks_ = &g_acks;
const std::string* Link::ack_topic_static_ = nullptr;

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
    result_topic_ = topic(cfg_, TopicKind::CmdResult);
    ack_topic_ = topic(cfg_, TopicKind::Ack);
    ack_topic_static_ = &ack_topic_;
    client_id_ = "ct-" + cfg_.device_id;
}

void Link::begin() {
    WiFi.mode(WIFI_STA);
    WiFi.setAutoReconnect(true);
    WiFi.begin(cfg_.wifi_ssid.c_str(), cfg_.wifi_password.c_str());
    if (broker_.tls) {
        tls_.setCACert(ca_pem_.c_str());  // never setInsecure(): the broker must prove who it is
        tls_.setHandshakeTimeout(20);      // seconds; TCP + TLS + CONNACK stay inside the 60 s watchdog
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
    esp_task_wdt_reset();  // each blocking step gets the whole watchdog period, never the chain
    if (!mqtt_.connect(client_id_.c_str(), cfg_.mqtt_username.c_str(), cfg_.mqtt_password.c_str())) {
        log_w("MQTT connect to %s:%u failed: error %d, return code %d", broker_.host.c_str(), broker_.port,
              static_cast<int>(mqtt_.lastError()), static_cast<int>(mqtt_.returnCode()));
        return false;
    }
    esp_task_wdt_reset();
    publish_status();  // retained: dashboards see it at once
    esp_task_wdt_reset();
    mqtt_.subscribe(cmd_topic_.c_str(), 1);
    esp_task_wdt_reset();
    mqtt_.subscribe(ack_topic_.c_str(), 1);  // the retained ack arrives now: what the server has
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
    esp_task_wdt_reset();
    // QoS 1: arduino-mqtt returns after the PUBACK (or false on timeout/disconnect).
    bool ok = mqtt_.publish(telemetry_topic_.c_str(), payload.c_str(), static_cast<int>(payload.size()), false, 1);
    if (!ok) ++publish_timeouts_;  // the Sender halves the next payload
    return ok;
}

bool Link::publish_status() {
    if (!mqtt_.connected()) return false;
    std::string json = status_source_ ? status_source_() : std::string("online");
    return mqtt_.publish(status_topic_.c_str(), json.c_str(), static_cast<int>(json.size()), true, 1);
}

bool Link::publish_result(const std::string& json) {
    if (!mqtt_.connected()) return false;
    esp_task_wdt_reset();
    return mqtt_.publish(result_topic_.c_str(), json.c_str(), static_cast<int>(json.size()), false, 1);
}

bool Link::next_ack(std::string& payload) {
    if (g_acks.empty()) return false;
    payload = std::move(g_acks.front());
    g_acks.pop_front();
    return true;
}

bool Link::next_command(std::string& payload) {
    if (g_commands.empty()) return false;
    payload = std::move(g_commands.front());
    g_commands.pop_front();
    return true;
}

void Link::on_message(MQTTClient*, char topic[], char bytes[], int length) {
    if (length <= 0 || static_cast<size_t>(length) > kMaxCommandBytes) return;
    if (ack_topic_static_ && std::strcmp(topic, ack_topic_static_->c_str()) == 0) {
        if (acks_->size() >= kMaxAcksQueued) acks_->pop_front();  // a newer ack covers an older one
        acks_->emplace_back(bytes, static_cast<size_t>(length));
        return;
    }
    if (commands_->size() >= kMaxCommandsQueued) commands_->pop_front();
    commands_->emplace_back(bytes, static_cast<size_t>(length));
}

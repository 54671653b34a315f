// Wi-Fi + MQTT over TLS with per-device credentials, retained JSON status (contract v1.1) with a
// plain "offline" last will, QoS 1 publish (returns after the PUBACK), reconnect backoff with
// jitter, the server's ack and commands queued for the loop, command results published.
#pragma once

#include <MQTT.h>
#include <WiFi.h>
#include <WiFiClientSecure.h>

#include <deque>
#include <functional>
#include <string>

#include "carbontrack/backoff.h"
#include "carbontrack/config.h"

class Link {
  public:
    Link(const carbontrack::NodeConfig& cfg, const std::string& ca_pem);
    // Start Wi-Fi; the MQTT connection is made by loop().
    void begin();
    // Keep Wi-Fi and MQTT up (non-blocking except for the connect itself); call every loop.
    void loop(uint64_t mono_ms);
    bool connected() { return mqtt_.connected(); }
    bool wifi_connected() const { return WiFi.status() == WL_CONNECTED; }
    // QoS 1 publish of telemetry; true only when the broker acknowledged it.
    bool publish_telemetry(const std::string& payload);
    // Commands received on the cmd topic, oldest first (queued: the MQTT callback must not
    // publish or block).
    bool next_command(std::string& payload);
    // Acks received on the ack topic (the retained one arrives right after subscribing).
    bool next_ack(std::string& payload);
    // Retained JSON status; the source is asked again at every (re)connect.
    void set_status_source(std::function<std::string()> source) { status_source_ = std::move(source); }
    bool publish_status();
    // `{"id": .., "ok": .., "detail": ..}` on .../cmd/result (QoS 1, not retained).
    bool publish_result(const std::string& json);
    uint32_t publish_timeouts() const { return publish_timeouts_; }
    int32_t rssi() const { return WiFi.RSSI(); }
    uint32_t connects() const { return connects_; }

  private:
    carbontrack::NodeConfig cfg_;
    std::string ca_pem_;
    carbontrack::BrokerUrl broker_;
    std::string telemetry_topic_, status_topic_, cmd_topic_, result_topic_, ack_topic_, client_id_;
    std::function<std::string()> status_source_;
    uint32_t publish_timeouts_ = 0;
    WiFiClientSecure tls_;
    WiFiClient plain_;
    MQTTClient mqtt_;
    carbontrack::XorShift32 rng_;
    carbontrack::Backoff backoff_;
    uint64_t next_attempt_ms_ = 0;
    uint32_t connects_ = 0;
    static std::deque<std::string>* commands_;
    static std::deque<std::string>* acks_;
    static const std::string* ack_topic_static_;

    bool connect();
    static void on_message(MQTTClient* client, char topic[], char bytes[], int length);
};

// Carbon Track sensor node: the Arduino loop. Everything that can be logic lives in the core
// (lib/carbontrack_core, host-tested); this file wires sensors, storage, network and time to it.
#include <Arduino.h>
#include <LittleFS.h>
#include <Preferences.h>
#include <esp_task_wdt.h>
#include <esp_timer.h>

#include <memory>
#include <string>
#include <sys/time.h>
#include <time.h>

#include "carbontrack/command.h"
#include "carbontrack/config.h"
#include "carbontrack/node.h"
#include "carbontrack/ota_guard.h"
#include "device_storage.h"
#include "link.h"
#include "ota_update.h"
#include "pins.h"
#include "sensors.h"

#ifndef CT_FW_VERSION
#define CT_FW_VERSION "0.0.0-dev"
#endif

using namespace carbontrack;

namespace {

constexpr uint32_t kWatchdogS = 60;              // longest blocking step: TLS connect + a PUBACK wait
constexpr size_t kMessagesPerLoop = 4;           // keep sampling on time while a backlog drains
// An unconfirmed update that has had Wi-Fi this long without one acknowledged publish reboots
// (3 such boots → previous image). Time without Wi-Fi does not count: a site network outage must
// not roll back a good image; a broker outage can, which only costs a re-sent OTA command.
constexpr uint64_t kConfirmDeadlineMs = 15 * 60 * 1000;
constexpr uint32_t kSeqBlock = 64;

Preferences prefs;
NodeConfig cfg;
std::string ca_pem;
bool provisioning_only = false;

std::unique_ptr<LittleFsStorage> ring_storage;
std::unique_ptr<NvsBlobStorage> seq_storage, guard_storage;
std::unique_ptr<ReadingBuffer> buffer;
std::unique_ptr<SequenceCounter> seq;
std::unique_ptr<OtaGuard> guard;
std::unique_ptr<NodeCore> node;
std::unique_ptr<Sensors> sensors;
std::unique_ptr<Link> uplink;

uint64_t next_sample_ms = 0;
uint64_t next_interval_ms = 0;
bool time_known = false;
uint64_t trial_wifi_ms = 0;  // time with Wi-Fi while running an unconfirmed update
uint64_t last_loop_ms = 0;
std::string console_line;

uint64_t mono_ms() { return static_cast<uint64_t>(esp_timer_get_time() / 1000); }

double wall_now() {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

// ---- serial provisioning console ------------------------------------------------------------
// set <key> <value> | get <key> | show | ca (then paste PEM) | erase | reboot | help

void console_help() {
    Serial.println("commands: set <key> <value> | get <key> | show | ca | erase | reboot");
    Serial.print("keys:");
    for (const auto& k : config_keys()) Serial.printf(" %s", k.c_str());
    Serial.println(" co2_model co2_scale");
}

void console_show() {
    for (const auto& k : config_keys()) Serial.printf("%-15s %s\n", k.c_str(), get_config_value(cfg, k).c_str());
    Serial.printf("%-15s %s\n", "co2_model", prefs.getString("co2_model", "explorir").c_str());
    Serial.printf("%-15s %s\n", "co2_scale", prefs.getString("co2_scale", "10").c_str());
    Serial.printf("%-15s %u bytes\n", "ca_pem", static_cast<unsigned>(ca_pem.size()));
    for (const auto& e : validate(cfg)) Serial.printf("! %s\n", e.c_str());
}

void read_ca_from_console() {
    Serial.println("paste the CA certificate (PEM), end with the -----END CERTIFICATE----- line");
    std::string pem, line;
    uint64_t deadline = mono_ms() + 120000;
    while (mono_ms() < deadline) {
        esp_task_wdt_reset();
        if (!Serial.available()) {
            delay(5);
            continue;
        }
        char c = static_cast<char>(Serial.read());
        if (c == '\r') continue;
        line += c;
        if (c != '\n') continue;
        pem += line;
        bool end = line.rfind("-----END CERTIFICATE-----", 0) == 0;
        line.clear();
        if (end) {
            prefs.putString("ca_pem", pem.c_str());
            Serial.printf("CA saved (%u bytes); reboot to use it\n", static_cast<unsigned>(pem.size()));
            return;
        }
    }
    Serial.println("timed out; CA unchanged");
}

void console_execute(const std::string& text) {
    ConsoleLine l = parse_console_line(text);
    if (l.verb.empty()) return;
    if (l.verb == "set") {
        std::string err;
        if (l.key == "co2_model" || l.key == "co2_scale") {
            prefs.putString(l.key.c_str(), l.value.c_str());
            Serial.println("ok (reboot to apply)");
        } else if (!set_config_value(cfg, l.key, l.value, &err)) {
            Serial.printf("error: %s\n", err.c_str());
        } else {
            save_config_value(prefs, l.key, l.value);
            Serial.println("ok (reboot to apply)");
        }
    } else if (l.verb == "get") {
        Serial.println(get_config_value(cfg, l.key).c_str());
    } else if (l.verb == "show") {
        console_show();
    } else if (l.verb == "ca") {
        read_ca_from_console();
    } else if (l.verb == "erase") {
        prefs.clear();
        LittleFS.remove("/buffer.bin");
        Serial.println("configuration and buffer erased; reboot");
    } else if (l.verb == "reboot") {
        ESP.restart();
    } else {
        console_help();
    }
}

void console_poll() {
    while (Serial.available()) {
        char c = static_cast<char>(Serial.read());
        if (c == '\n') {
            console_execute(console_line);
            console_line.clear();
        } else if (console_line.size() < 512) {
            console_line += c;
        }
    }
}

// ---- commands from the server ------------------------------------------------------------------

void handle_command(const std::string& payload) {
    Command c = parse_command(payload);
    switch (c.type) {
        case Command::Type::Invalid:
            log_w("cmd rejected: %s", c.error.c_str());
            break;
        case Command::Type::Reboot:
            ESP.restart();
            break;
        case Command::Type::AbcOff:
            log_i("ABC off: %s", sensors->co2().abc_off() ? "ok" : "no answer");
            break;
        case Command::Type::CalibrateZero:
            log_i("zero calibration: %s", sensors->co2().calibrate_zero() ? "ok" : "failed");
            break;
        case Command::Type::CalibrateSpan:
            log_i("span calibration at %.0f ppm: %s", c.ppm, sensors->co2().calibrate_span(c.ppm) ? "ok" : "failed");
            break;
        case Command::Type::Set: {
            NodeConfig next = cfg;
            std::string err;
            if (set_config_value(next, c.key, c.value, &err) && validate(next).empty()) {
                save_config_value(prefs, c.key, c.value);
                log_i("set %s = %s (applies after reboot)", c.key.c_str(), c.value.c_str());
            } else {
                log_w("set %s refused: %s", c.key.c_str(), err.empty() ? "fails validation" : err.c_str());
            }
            break;
        }
        case Command::Type::Ota: {
            if (guard->pending()) {
                log_w("OTA refused: the running update is not confirmed yet");
                break;
            }
            log_i("OTA %s from %s", c.version.c_str(), c.url.c_str());
            std::string err;
            if (ota::install(c.url, c.sha256, ca_pem, err)) {
                guard->on_update_installed();
                log_i("OTA installed; rebooting into it");
                delay(200);
                ESP.restart();
            }
            log_e("OTA failed: %s", err.c_str());
            break;
        }
    }
}

}  // namespace

void setup() {
    Serial.begin(115200);
    pinMode(pins::kLed, OUTPUT);
    esp_task_wdt_init(kWatchdogS, true);  // panic + reboot when the loop hangs
    esp_task_wdt_add(nullptr);
    setenv("TZ", "UTC0", 1);  // the node only speaks UTC; local days are the server's business
    tzset();

    prefs.begin("ct", false);
    load_config(prefs, cfg);
    ca_pem = load_ca_pem(prefs);

    guard_storage = std::make_unique<NvsBlobStorage>(prefs, "ota_guard", OtaGuard::kStorageBytes);
    guard_storage->begin();
    guard = std::make_unique<OtaGuard>(*guard_storage);
    ota::handle_boot(*guard);

    auto errors = validate(cfg);
    BrokerUrl broker;
    if (parse_broker_url(cfg.broker_url, broker) && broker.tls && ca_pem.empty())
        errors.push_back("ca_pem is missing: run `ca` and paste the broker's CA certificate");
    if (!errors.empty()) {
        provisioning_only = true;
        Serial.printf("Carbon Track node %s: not configured\n", CT_FW_VERSION);
        for (const auto& e : errors) Serial.printf("! %s\n", e.c_str());
        console_help();
        return;
    }

    // The partition is labelled "littlefs" (partitions.csv); the core's default label is "spiffs".
    if (!LittleFS.begin(true, "/littlefs", 4, "littlefs")) log_e("LittleFS mount failed");
    ring_storage = std::make_unique<LittleFsStorage>("/buffer.bin", ReadingBuffer::required_bytes(cfg.buffer_capacity));
    if (!ring_storage->begin()) log_e("cannot create the buffer file (%u readings)", cfg.buffer_capacity);
    buffer = std::make_unique<ReadingBuffer>(*ring_storage, cfg.buffer_capacity);
    if (!buffer->begin()) log_e("reading buffer unusable: readings will not survive an outage");
    seq_storage = std::make_unique<NvsBlobStorage>(prefs, "seq", SequenceCounter::kStorageBytes);
    seq_storage->begin();
    seq = std::make_unique<SequenceCounter>(*seq_storage, kSeqBlock);
    seq->begin();
    node = std::make_unique<NodeCore>(cfg, *buffer, *seq);

    String model = prefs.getString("co2_model", "explorir");
    double scale = prefs.getString("co2_scale", "10").toDouble();
    sensors = std::make_unique<Sensors>(Serial2, model == "k33" ? Co2Sensor::Model::SenseairK33 : Co2Sensor::Model::ExplorIrW,
                                        scale > 0 ? scale : 10.0, pins::kTcCs);
    sensors->begin();

    uplink = std::make_unique<Link>(cfg, ca_pem);
    uplink->begin();
    configTzTime("UTC0", cfg.ntp_server.c_str());

    uint64_t now = mono_ms();
    last_loop_ms = now;
    next_sample_ms = now;
    next_interval_ms = now + cfg.publish_interval_s * 1000ull;
    Serial.printf("Carbon Track node %s, %s, %u readings buffered (%u dropped so far)\n", CT_FW_VERSION,
                  cfg.device_id.c_str(), static_cast<unsigned>(buffer->size()), static_cast<unsigned>(buffer->dropped()));
}

void loop() {
    esp_task_wdt_reset();
    console_poll();
    if (provisioning_only) {
        digitalWrite(pins::kLed, (millis() / 100) % 2);
        delay(10);
        return;
    }
    uint64_t now = mono_ms();

    if (now >= next_sample_ms) {
        node->add_sample(sensors->read());
        next_sample_ms += cfg.sample_period_s * 1000ull;
        if (next_sample_ms <= now) next_sample_ms = now + cfg.sample_period_s * 1000ull;  // after a long block: no burst
    }
    if (!time_known && wall_time_plausible(wall_now())) {
        time_known = true;
        size_t n = node->time_known(wall_now(), now);
        log_i("time set by NTP; %u held readings stamped", static_cast<unsigned>(n));
    }
    if (now >= next_interval_ms) {
        node->end_interval(now, time_known ? wall_now() : 0.0);
        next_interval_ms += cfg.publish_interval_s * 1000ull;
        if (next_interval_ms <= now) next_interval_ms = now + cfg.publish_interval_s * 1000ull;
    }

    uplink->loop(now);
    if (uplink->connected() && !node->buffer().empty()) {
        Envelope env{cfg.device_id, CT_FW_VERSION, uplink->rssi(), now / 1000, 0};
        FlushResult r = node->flush(env, [](const std::string& p) { return uplink->publish_telemetry(p); }, kMessagesPerLoop);
        if (r.messages > 0) ota::confirm(*guard);  // reached the broker and got PUBACKs: this image works
    }
    std::string cmd;
    while (uplink->next_command(cmd)) handle_command(cmd);

    if (guard->pending() && uplink->wifi_connected()) trial_wifi_ms += now - last_loop_ms;
    last_loop_ms = now;
    if (guard->pending() && trial_wifi_ms > kConfirmDeadlineMs) {
        log_e("update not confirmed within %u min: rebooting (attempt %u)",
              static_cast<unsigned>(kConfirmDeadlineMs / 60000), static_cast<unsigned>(guard->attempts()));
        ESP.restart();
    }
    digitalWrite(pins::kLed, uplink->connected() ? HIGH : (millis() / 1000) % 2);
    delay(5);
}

// Carbon Track sensor node: the Arduino loop. Everything that can be logic lives in the core
// (lib/carbontrack_core, host-tested); this file wires sensors, storage, network and time to it.
#include <Arduino.h>
#include <Preferences.h>
#include <esp_task_wdt.h>
#include <esp_timer.h>

#include <memory>
#include <string>
#include <sys/time.h>
#include <vector>
#include <time.h>

#include "carbontrack/command.h"
#include "carbontrack/config.h"
#include "carbontrack/node.h"
#include "carbontrack/ota_guard.h"
#include "carbontrack/status.h"
#include "carbontrack/supervisor.h"
#include "device_storage.h"
#include "link.h"
#include "ota_update.h"
#include <esp_ota_ops.h>
#include <esp_system.h>
#include "pins.h"
#include "sensors.h"

#ifndef CT_FW_VERSION
#define CT_FW_VERSION "0.0.0-dev"
#endif

using namespace carbontrack;

namespace {

// The longest single blocking step is TCP + TLS (20 s handshake timeout) + CONNACK (10 s); every
// step feeds the watchdog first, so no chain of steps has to fit in one period.
constexpr uint32_t kWatchdogS = 60;
constexpr size_t kMessagesPerLoop = 4;           // keep sampling on time while a backlog drains
// An unconfirmed update that has had Wi-Fi this long without one acknowledged publish reboots
// (3 such boots → previous image). Time without Wi-Fi does not count: a site network outage must
// not roll back a good image; a broker outage can, which only costs a re-sent OTA command.
constexpr uint64_t kConfirmDeadlineMs = 15 * 60 * 1000;
constexpr uint32_t kSeqBlock = 64;
constexpr uint64_t kStatusEveryMs = 10 * 60 * 1000;  // retained status refresh (heap, counters)
constexpr uint64_t kNtpCheckMs = 60 * 1000;          // an NTP "failure" = a minute online without sync

Preferences prefs;
NodeConfig cfg;
std::string ca_pem;
bool provisioning_only = false;  // configuration invalid: console (+ network and OTA if possible)
bool safe_mode = false;          // too many failed boots: network, status, commands and OTA only

PartitionLfs flash_fs;
std::unique_ptr<LfsSegmentFs> log_fs;
std::unique_ptr<NvsBlobStorage> seq_storage, guard_storage, boot_storage;
std::unique_ptr<FlashLog> buffer;
std::unique_ptr<BootGuard> boot_guard;
ConnectivityWatchdog connectivity;
TimeKeeper timekeeper;
std::unique_ptr<SequenceCounter> seq;
std::unique_ptr<OtaGuard> guard;
std::unique_ptr<NodeCore> node;
std::unique_ptr<Sensors> sensors;
std::unique_ptr<Link> uplink;

uint64_t next_sample_ms = 0;
uint64_t next_interval_ms = 0;
uint64_t next_status_ms = 0;
uint64_t next_ntp_check_ms = 0;
uint32_t seen_connects = 0;
uint64_t first_seq_this_connection = 0;  // an ack at or above it answers this connection: live
std::string reset_reason;
uint32_t storage_errors_at_boot = 0;
uint64_t trial_wifi_ms = 0;  // time with Wi-Fi while running an unconfirmed update
uint64_t last_loop_ms = 0;
std::string console_line;

uint64_t mono_ms() { return static_cast<uint64_t>(esp_timer_get_time() / 1000); }

double wall_now() {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

std::string status_json() {
    NodeStatus st;
    st.fw = CT_FW_VERSION;
    st.reset_reason = reset_reason;
    st.free_heap = esp_get_free_heap_size();
    st.min_free_heap = esp_get_minimum_free_heap_size();
    st.safe_mode = safe_mode;
    if (buffer) {
        st.counters.dropped = node ? node->dropped() + buffer->undatable() : buffer->dropped();
        st.counters.storage_errors = buffer->storage_errors() + (node ? node->storage_errors() : 0) +
                                     (seq ? seq->persist_errors() : 0) + storage_errors_at_boot;
        st.counters.corrupt = buffer->corrupt();
    }
    if (node) st.counters.empty = node->intervals_without_data();
    st.counters.ntp_failures = timekeeper.ntp_failures();
    st.counters.publish_timeouts = uplink ? uplink->publish_timeouts() : 0;
    return encode_status(st);
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
        if (flash_fs.mounted()) {
            std::vector<uint32_t> ids;
            if (log_fs && log_fs->list(ids) == 0)
                for (uint32_t id : ids) log_fs->remove(id);
        }
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

// Execute one server command and report its outcome on .../cmd/result (contract v1.1).
void handle_command(const std::string& payload) {
    Command c = parse_command(payload);
    bool ok = false;
    std::string detail;
    bool reboot_after = false;
    bool sensors_allowed = sensors != nullptr;  // not in safe or provisioning mode
    switch (c.type) {
        case Command::Type::Invalid:
            detail = "rejected: " + c.error;
            break;
        case Command::Type::Reboot:
            ok = true;
            detail = "rebooting";
            reboot_after = true;
            break;
        case Command::Type::Status:
            ok = uplink != nullptr;
            if (ok) uplink->publish_status();
            detail = ok ? "status published" : "no uplink";
            break;
        case Command::Type::AbcOff:
            ok = sensors_allowed && sensors->co2().abc_off();
            detail = sensors_allowed ? (ok ? "ABC off acknowledged" : "no answer from the CO2 sensor") : "sensors off (safe mode)";
            break;
        case Command::Type::CalibrateZero:
            ok = sensors_allowed && sensors->co2().calibrate_zero();
            detail = ok ? "zero calibration done" : "zero calibration failed";
            break;
        case Command::Type::CalibrateSpan:
            ok = sensors_allowed && sensors->co2().calibrate_span(c.ppm);
            detail = ok ? "span calibration done" : "span calibration failed";
            break;
        case Command::Type::Set: {
            NodeConfig next = cfg;
            std::string err;
            if (set_config_value(next, c.key, c.value, &err) && validate(next).empty()) {
                ok = save_config_value(prefs, c.key, c.value);
                detail = "set " + c.key + " = " + c.value + (ok ? " (applies after reboot)" : ": NVS write failed");
            } else {
                detail = "set " + c.key + " refused: " + (err.empty() ? "fails validation" : err);
            }
            break;
        }
        case Command::Type::Ota: {
            if (guard->pending()) {
                detail = "OTA refused: the running update is not confirmed yet";
                break;
            }
            std::string err;
            if (ota::install(c.url, c.sha256, ca_pem, err)) {
                guard->on_update_installed();
                ok = true;
                detail = "installed " + c.version + "; rebooting into it";
                reboot_after = true;
            } else {
                detail = "OTA failed: " + err;
            }
            break;
        }
    }
    log_i("cmd %s: %s", c.id.c_str(), detail.c_str());
    if (!c.id.empty() && uplink) uplink->publish_result(encode_command_result(c.id, ok, detail));
    if (reboot_after) {
        delay(200);
        ESP.restart();
    }
}

// Server acks: remove what the server committed; a live ack's time is the fallback clock.
void handle_ack(const std::string& payload, uint64_t now) {
    Ack a;
    if (!parse_ack(payload, a)) {
        log_w("ack ignored: %s", payload.c_str());
        return;
    }
    if (node) node->on_ack(a.seq, now);
    bool live = first_seq_this_connection != 0 && a.seq >= first_seq_this_connection;
    if (a.has_ts && live && timekeeper.server_time(a.ts, now)) {
        struct timeval tv;
        tv.tv_sec = static_cast<time_t>(a.ts);
        tv.tv_usec = static_cast<suseconds_t>((a.ts - static_cast<double>(tv.tv_sec)) * 1e6);
        settimeofday(&tv, nullptr);
        if (node) node->time_known(a.ts, now);
        log_w("clock set from the server's ack (NTP unanswered)");
    }
}

// Wi-Fi, MQTT, status, commands and acks: what runs in every mode.
void network_step(uint64_t now) {
    if (!uplink) return;
    uplink->loop(now);
    if (uplink->connects() != seen_connects) {  // a new connection: the old in-flight set is void
        seen_connects = uplink->connects();
        first_seq_this_connection = 0;
        if (node) node->sender().rewind();
        next_status_ms = now + kStatusEveryMs;
    }
    // Commands before the flush: a node with a backlog still obeys its server.
    std::string msg;
    while (uplink->next_command(msg)) handle_command(msg);
    while (uplink->next_ack(msg)) handle_ack(msg, now);
    if (uplink->connected() && now >= next_status_ms) {
        uplink->publish_status();
        next_status_ms = now + kStatusEveryMs;
    }
    if (connectivity.should_reboot(now, uplink->connected())) {
        log_e("no broker for 15 min: rebooting to clear the network stack");
        ESP.restart();
    }
}

bool network_configured(const std::vector<std::string>& errors) {
    // Enough to reach the broker even if other keys are wrong (OTA and `set` can fix them).
    BrokerUrl b;
    (void)errors;
    return !cfg.device_id.empty() && !cfg.factory_code.empty() && !cfg.wifi_ssid.empty() &&
           parse_broker_url(cfg.broker_url, b) && (!b.tls || !ca_pem.empty());
}

}  // namespace

void setup() {
    Serial.begin(115200);
    pinMode(pins::kLed, OUTPUT);
    esp_task_wdt_init(kWatchdogS, true);  // panic + reboot when the loop hangs
    esp_task_wdt_add(nullptr);
    setenv("TZ", "UTC0", 1);  // the node only speaks UTC; local days are the server's business
    tzset();
    reset_reason = reset_reason_name(static_cast<int>(esp_reset_reason()));

    prefs.begin("ct", false);
    load_config(prefs, cfg);
    apply_node_caps(cfg);
    ca_pem = load_ca_pem(prefs);

    boot_storage = std::make_unique<NvsBlobStorage>(prefs, "boot_guard", BootGuard::kStorageBytes);
    boot_storage->begin();
    boot_guard = std::make_unique<BootGuard>(*boot_storage);
    safe_mode = boot_guard->on_boot();

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
        if (guard->pending()) {
            // A new image that finds the configuration invalid would never confirm itself:
            // the previous image ran with this configuration, so go back to it now.
            log_e("update rejects the configuration: rolling back");
            esp_ota_mark_app_invalid_rollback_and_reboot();
        }
    }
    if (provisioning_only || safe_mode) {
        if (safe_mode) Serial.printf("SAFE MODE after %u failed boots: network and OTA only\n", boot_guard->failed_boots());
        if (network_configured(errors)) {  // keep the node reachable for `set`, `reboot` and OTA
            uplink = std::make_unique<Link>(cfg, ca_pem);
            uplink->set_status_source(status_json);
            uplink->begin();
        }
        return;
    }

    int rc = flash_fs.begin("littlefs");
    if (rc != 0) {
        ++storage_errors_at_boot;
        log_e("littlefs on partition 'littlefs' unusable (%d): readings will not survive an outage", rc);
    }
    seq_storage = std::make_unique<NvsBlobStorage>(prefs, "seq", SequenceCounter::kStorageBytes);
    seq_storage->begin();
    seq = std::make_unique<SequenceCounter>(*seq_storage, kSeqBlock);
    if (!seq->begin()) ++storage_errors_at_boot;
    // The first seq of this boot is unique to it: it names the boot in undated log records.
    uint32_t boot_id = static_cast<uint32_t>(seq->peek());
    log_fs = std::make_unique<LfsSegmentFs>(flash_fs.lfs());
    buffer = std::make_unique<FlashLog>(*log_fs, cfg.buffer_capacity, boot_id);
    if (!flash_fs.mounted() || !buffer->begin()) log_e("flash log unusable");
    node = std::make_unique<NodeCore>(cfg, *buffer, *seq, 240, Sender::Mode::RemoveOnAck);

    String model = prefs.getString("co2_model", "explorir");
    double scale = prefs.getString("co2_scale", "10").toDouble();
    sensors = std::make_unique<Sensors>(Serial2, model == "k33" ? Co2Sensor::Model::SenseairK33 : Co2Sensor::Model::ExplorIrW,
                                        scale > 0 ? scale : 10.0, pins::kTcCs);
    sensors->begin(mono_ms());

    uplink = std::make_unique<Link>(cfg, ca_pem);
    uplink->set_status_source(status_json);
    uplink->begin();
    static std::vector<std::string> ntp = ntp_servers(cfg.ntp_server);  // configTzTime keeps the pointers
    configTzTime("UTC0", ntp[0].c_str(), ntp.size() > 1 ? ntp[1].c_str() : nullptr, ntp.size() > 2 ? ntp[2].c_str() : nullptr);

    uint64_t now = mono_ms();
    last_loop_ms = now;
    next_sample_ms = now;
    next_interval_ms = now + cfg.publish_interval_s * 1000ull;
    next_ntp_check_ms = now + kNtpCheckMs;
    Serial.printf("Carbon Track node %s, %s, %u readings in the flash log (%u corrupt, %u undatable)\n", CT_FW_VERSION,
                  cfg.device_id.c_str(), static_cast<unsigned>(buffer->size()), static_cast<unsigned>(buffer->corrupt()),
                  static_cast<unsigned>(buffer->undatable()));
}

void loop() {
    esp_task_wdt_reset();
    console_poll();
    uint64_t now = mono_ms();
    boot_guard->tick(now);
    if (provisioning_only || safe_mode) {
        network_step(now);
        if (guard->pending() && uplink && uplink->connected() && safe_mode) {
            // A safe-mode boot of an unconfirmed update is a failed update: previous image.
            log_e("unconfirmed update ended in safe mode: rolling back");
            esp_ota_mark_app_invalid_rollback_and_reboot();
        }
        digitalWrite(pins::kLed, (millis() / 100) % 2);
        delay(10);
        return;
    }

    if (now >= next_sample_ms) {
        node->add_sample(sensors->read(now));
        next_sample_ms += cfg.sample_period_s * 1000ull;
        if (next_sample_ms <= now) next_sample_ms = now + cfg.sample_period_s * 1000ull;  // after a long block: no burst
    }
    sensors->maintain(now);
    if (!timekeeper.known() && wall_time_plausible(wall_now())) {
        timekeeper.ntp_synced(wall_now(), now);
        node->time_known(wall_now(), now);
        log_i("time set by NTP");
    }
    if (!timekeeper.known() && now >= next_ntp_check_ms) {
        if (uplink->wifi_connected()) timekeeper.ntp_failed();
        next_ntp_check_ms = now + kNtpCheckMs;
    }
    if (now >= next_interval_ms) {
        node->end_interval(now, timekeeper.known() ? timekeeper.now(now) : 0.0);
        next_interval_ms += cfg.publish_interval_s * 1000ull;
        if (next_interval_ms <= now) next_interval_ms = now + cfg.publish_interval_s * 1000ull;
    }

    network_step(now);
    node->sender().tick(now);  // no ack for a while: send the in-flight readings again
    if (uplink->connected() && node->buffer().size() > node->sender().in_flight()) {
        Envelope env{cfg.device_id, CT_FW_VERSION, uplink->rssi(), now / 1000, 0};
        env.conv.present = true;  // evidence only; the server uses its registry
        env.conv.velocity_profile_factor = cfg.velocity_profile_factor;
        env.conv.pitot_k = cfg.pitot_coefficient;
        FlushResult r = node->flush(env, [](const std::string& p) { return uplink->publish_telemetry(p); }, kMessagesPerLoop, now);
        if (r.first_seq && (first_seq_this_connection == 0 || r.first_seq < first_seq_this_connection))
            first_seq_this_connection = r.first_seq;
        if (r.messages > 0) ota::confirm(*guard);  // reached the broker and got PUBACKs: this image works
    }

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

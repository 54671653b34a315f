#include "carbontrack/status.h"

#include <cmath>

#include "carbontrack/json.h"

namespace carbontrack {

std::string encode_status(const NodeStatus& s) {
    std::string out = "{\"state\": ";
    json::append_string(out, s.state);
    out += ", \"fw\": ";
    json::append_string(out, s.fw);
    out += ", \"reset_reason\": ";
    json::append_string(out, s.reset_reason);
    out += ", \"free_heap\": ";
    json::append_uint(out, s.free_heap);
    out += ", \"min_free_heap\": ";
    json::append_uint(out, s.min_free_heap);
    out += s.safe_mode ? ", \"safe_mode\": true" : ", \"safe_mode\": false";
    const HealthCounters& c = s.counters;
    out += ", \"counters\": {\"dropped\": ";
    json::append_uint(out, c.dropped);
    out += ", \"storage_errors\": ";
    json::append_uint(out, c.storage_errors);
    out += ", \"corrupt\": ";
    json::append_uint(out, c.corrupt);
    out += ", \"empty\": ";
    json::append_uint(out, c.empty);
    out += ", \"ntp_failures\": ";
    json::append_uint(out, c.ntp_failures);
    out += ", \"publish_timeouts\": ";
    json::append_uint(out, c.publish_timeouts);
    out += "}}";
    return out;
}

const char* reset_reason_name(int r) {
    // esp_reset_reason_t (ESP-IDF 4.4): UNKNOWN, POWERON, EXT, SW, PANIC, INT_WDT, TASK_WDT, WDT,
    // DEEPSLEEP, BROWNOUT, SDIO.
    static const char* const kNames[] = {"UNKNOWN", "POWERON", "EXT", "SW", "PANIC", "INT_WDT",
                                         "TASK_WDT", "WDT", "DEEPSLEEP", "BROWNOUT", "SDIO"};
    if (r < 0 || r >= static_cast<int>(sizeof kNames / sizeof kNames[0])) return "UNKNOWN";
    return kNames[r];
}

bool parse_ack(std::string_view text, Ack& out) {
    if (text.size() > 256) return false;
    json::Value doc;
    if (!json::parse(text, doc, nullptr, 4) || !doc.is_object()) return false;
    const json::Value* seq = doc.get("seq");
    if (!seq || !seq->is_number() || !seq->integer_literal || seq->number < 0 || seq->number > 9007199254740992.0)
        return false;
    Ack a;
    a.seq = static_cast<uint64_t>(seq->number);
    if (const json::Value* ts = doc.get("ts"); ts) {
        if (!ts->is_number() || !std::isfinite(ts->number)) return false;
        a.ts = ts->number;
        a.has_ts = true;
    }
    out = a;
    return true;
}

}  // namespace carbontrack

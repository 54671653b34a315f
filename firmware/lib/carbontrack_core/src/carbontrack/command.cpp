#include "carbontrack/command.h"

#include <cctype>

#include "carbontrack/json.h"

namespace carbontrack {

bool is_sha256_hex(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

namespace {
Command invalid(std::string why) {
    Command c;
    c.error = std::move(why);
    return c;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Command parse_command_body(const json::Value& top);

// Keys the server may change remotely; credentials and identity are not among them.
bool settable_key(const std::string& k) {
    return k == "interval_s" || k == "sample_s" || k == "profile_factor" || k == "pitot_cp" || k == "moisture" ||
           k == "altitude_m" || k == "max_payload";
}
}  // namespace

Command parse_command(std::string_view payload) {
    if (payload.size() > kMaxCommandBytes) return invalid("command larger than 2048 bytes");
    json::Value doc;
    std::string err;
    if (!json::parse(payload, doc, &err, 8)) return invalid("not JSON: " + err);
    if (!doc.is_object()) return invalid("command must be a JSON object");
    std::string id;
    if (const json::Value* v = doc.get("id"); v && v->is_string() && !v->string.empty() && v->string.size() <= 64)
        id = v->string;
    Command c = parse_command_body(doc);
    c.id = id;
    return c;
}

std::string encode_command_result(const std::string& id, bool ok, const std::string& detail) {
    std::string out = "{\"id\": ";
    json::append_string(out, id);
    out += ok ? ", \"ok\": true, \"detail\": " : ", \"ok\": false, \"detail\": ";
    json::append_string(out, detail);
    out += "}";
    return out;
}

namespace {
Command parse_command_body(const json::Value& top) {
    const json::Value* name = top.get("cmd");
    if (!name || !name->is_string()) return invalid("missing \"cmd\"");
    const json::Value* args = top.get("args");
    const json::Value& doc = args && args->is_object() ? *args : top;
    Command c;
    const std::string& n = name->string;
    if (n == "ota") {
        const json::Value* url = doc.get("url");
        const json::Value* sha = doc.get("sha256");
        if (!url || !url->is_string() || url->string.rfind("https://", 0) != 0)
            return invalid("ota needs an https:// url");
        if (!sha || !sha->is_string() || !is_sha256_hex(sha->string)) return invalid("ota needs sha256 (64 hex digits)");
        c.type = Command::Type::Ota;
        c.url = url->string;
        c.sha256 = lower(sha->string);
        if (const json::Value* v = doc.get("version"); v && v->is_string()) c.version = v->string;
    } else if (n == "reboot") {
        c.type = Command::Type::Reboot;
    } else if (n == "status") {
        c.type = Command::Type::Status;  // publish the health status now (contract v1.1, issue 13)
    } else if (n == "abc_off") {
        c.type = Command::Type::AbcOff;
    } else if (n == "calibrate") {
        const json::Value* kind = doc.get("kind");
        if (!kind || !kind->is_string()) return invalid("calibrate needs kind zero|span");
        if (kind->string == "zero") {
            c.type = Command::Type::CalibrateZero;
        } else if (kind->string == "span") {
            const json::Value* ppm = doc.get("ppm");
            if (!ppm || !ppm->is_number() || !(ppm->number > 0.0 && ppm->number <= 300000.0))
                return invalid("span calibration needs ppm in (0, 300000]");
            c.type = Command::Type::CalibrateSpan;
            c.ppm = ppm->number;
        } else {
            return invalid("calibrate kind must be zero or span");
        }
    } else if (n == "set") {
        const json::Value* key = doc.get("key");
        const json::Value* value = doc.get("value");
        if (!key || !key->is_string() || !settable_key(key->string)) return invalid("set: key not settable remotely");
        if (!value || !value->is_number()) return invalid("set: value must be a number");
        c.type = Command::Type::Set;
        c.key = key->string;
        std::string num;
        json::append_number(num, value->number);
        c.value = num;
    } else {
        return invalid("unknown cmd \"" + n + "\"");
    }
    return c;
}
}  // namespace

}  // namespace carbontrack

namespace carbontrack {

ConsoleLine parse_console_line(std::string_view line) {
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
        return s;
    };
    auto next_word = [&](std::string_view& s) {
        s = trim(s);
        size_t end = s.find_first_of(" \t");
        std::string_view w = s.substr(0, end);
        s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
        return std::string(w);
    };
    ConsoleLine out;
    std::string_view rest = line;
    out.verb = next_word(rest);
    out.key = next_word(rest);
    out.value = std::string(trim(rest));
    return out;
}

}  // namespace carbontrack

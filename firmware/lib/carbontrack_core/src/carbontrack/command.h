// Commands the server sends on <prefix>/<factory>/<device>/cmd (JSON object with "cmd").
//   {"cmd": "ota", "url": "https://…/fw-1.1.0.bin", "sha256": "<64 hex>", "version": "1.1.0"}
//   {"cmd": "reboot"}
//   {"cmd": "abc_off"}                              re-send "automatic baseline calibration off"
//   {"cmd": "calibrate", "kind": "zero"}            zero with nitrogen at the probe
//   {"cmd": "calibrate", "kind": "span", "ppm": 150000}   span with certified test gas
//   {"cmd": "set", "key": "interval_s", "value": 60}       change one NVS key, applied on reboot
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace carbontrack {

struct Command {
    enum class Type { Invalid, Ota, Reboot, AbcOff, CalibrateZero, CalibrateSpan, Set, Status };
    Type type = Type::Invalid;
    std::string id;  // contract v1.1 "id" (echoed on cmd/result); empty when absent or unusable
    std::string url;
    std::string sha256;  // lower-case hex
    std::string version;
    double ppm = 0.0;
    std::string key;
    std::string value;  // numbers as written, strings unquoted
    std::string error;  // why the command was rejected (Type::Invalid)
};

// Commands are small; anything larger is refused before parsing.
constexpr size_t kMaxCommandBytes = 2048;

// Arguments are read from the "args" object when there is one (contract v1.1 form
// `{"id": "c-123", "cmd": "set", "args": {"key": "interval_s", "value": 60}}`), else from the top
// level (v1 form). The id is kept even when the command is invalid, so the result can name it.
Command parse_command(std::string_view payload);

// `{"id": "c-123", "ok": true, "detail": "..."}` for <prefix>/<factory>/<device>/cmd/result.
std::string encode_command_result(const std::string& id, bool ok, const std::string& detail);

// True for exactly 64 hex digits.
bool is_sha256_hex(std::string_view s);

}  // namespace carbontrack

namespace carbontrack {

// One line of the serial provisioning console: "<verb> [<key> [<value…>]]", value keeps its
// inner spaces (Wi-Fi names have them); surrounding whitespace and a trailing \r are dropped.
struct ConsoleLine {
    std::string verb;
    std::string key;
    std::string value;
};
ConsoleLine parse_console_line(std::string_view line);

}  // namespace carbontrack

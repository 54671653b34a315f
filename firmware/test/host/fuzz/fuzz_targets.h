// Fuzz harnesses of the core's parsers and decoders. Each takes arbitrary bytes and must neither
// crash nor trip ASan/UBSan; where a property holds for every input it is checked with
// fuzz_assert (aborts). Built two ways: as libFuzzer targets with clang (`make fuzz`, when clang
// is installed) and as a plain replay of the corpora in fuzz/corpus/ in `make test`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fuzz {

int json_target(const uint8_t* data, size_t size);     // json::parse + semantic round trip
int command_target(const uint8_t* data, size_t size);  // parse_command (v1 and v1.1 forms)
int config_target(const uint8_t* data, size_t size);   // console line + set_config_value + validate
int payload_target(const uint8_t* data, size_t size);  // readings from bytes -> encode -> parse back
int ack_target(const uint8_t* data, size_t size);      // parse_ack
int log_target(const uint8_t* data, size_t size);      // flash log scan of arbitrary/torn segments

struct Target {
    const char* name;
    int (*fn)(const uint8_t*, size_t);
};
extern const Target kTargets[];
extern const size_t kTargetCount;

}  // namespace fuzz

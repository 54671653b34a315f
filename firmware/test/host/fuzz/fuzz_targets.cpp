#include "fuzz_targets.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "carbontrack/command.h"
#include "carbontrack/config.h"
#include "carbontrack/flash_log.h"
#include "carbontrack/json.h"
#include "carbontrack/payload.h"
#include "carbontrack/status.h"

using namespace carbontrack;

namespace fuzz {

namespace {
void fuzz_assert(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz property violated: %s\n", what);
        std::abort();
    }
}
std::string_view text(const uint8_t* d, size_t n) { return {reinterpret_cast<const char*>(d), n}; }

double take_double(const uint8_t*& p, const uint8_t* end) {
    uint64_t bits = 0;
    for (int i = 0; i < 8 && p < end; ++i) bits |= uint64_t{*p++} << (8 * i);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}
}  // namespace

int json_target(const uint8_t* data, size_t size) {
    json::Value v;
    if (!json::parse(text(data, size), v)) return 0;
    // Whatever parses compares equal to itself.
    fuzz_assert(json::semantically_equal(v, v), "parsed JSON equals itself");
    return 0;
}

int command_target(const uint8_t* data, size_t size) {
    Command c = parse_command(text(data, size));
    if (c.type == Command::Type::Ota) fuzz_assert(is_sha256_hex(c.sha256) && c.url.rfind("https://", 0) == 0, "ota is https + sha256");
    fuzz_assert(c.id.size() <= 64, "command id bounded");
    std::string result = encode_command_result(c.id, c.type != Command::Type::Invalid, c.error);
    json::Value v;
    fuzz_assert(json::parse(result, v), "command result is JSON");
    return 0;
}

int config_target(const uint8_t* data, size_t size) {
    ConsoleLine l = parse_console_line(text(data, size));
    NodeConfig cfg;
    std::string err;
    if (set_config_value(cfg, l.key, l.value, &err)) (void)get_config_value(cfg, l.key);
    (void)validate(cfg);
    apply_node_caps(cfg);
    fuzz_assert(cfg.max_payload_bytes <= kMaxNodePayloadBytes, "node cap applied");
    return 0;
}

int payload_target(const uint8_t* data, size_t size) {
    // Bytes -> up to 8 readings with arbitrary doubles (NaN, inf, huge, subnormal) -> JSON.
    const uint8_t* p = data;
    const uint8_t* end = data + size;
    std::vector<Reading> rs;
    while (p < end && rs.size() < 8) {
        Reading r;
        double seq_bits = take_double(p, end);
        std::memcpy(&r.seq, &seq_bits, sizeof r.seq);  // any 64-bit seq
        r.ts = take_double(p, end);
        r.co2_ppm = take_double(p, end);
        r.flue_temp_c = take_double(p, end);
        r.velocity_m_s = take_double(p, end);
        r.pressure_pa = take_double(p, end);
        r.dp_pa = take_double(p, end);
        r.flags = static_cast<uint16_t>(p < end ? *p++ : 0);
        rs.push_back(r);
    }
    Envelope env{"KGW-S1", "1.1.0", -67, 86400, 0};
    std::string out = encode_payload(env, rs.data(), rs.size());
    json::Value v;
    fuzz_assert(json::parse(out, v), "encoder output is JSON");
    fuzz_assert(payload_size(env, rs.data(), rs.size()) == out.size(), "payload_size matches");
    // The log codec keeps what it can represent and never fails on its own output.
    for (const Reading& r : rs) {
        LogRecord in;
        in.reading = r;
        if (!std::isfinite(r.ts) || std::fabs(r.ts) > 9e15) continue;
        uint8_t b[logrec::kBytes];
        logrec::encode(in, b);
        LogRecord back;
        fuzz_assert(logrec::decode(b, back), "log record decodes");
        fuzz_assert(back.reading.seq == r.seq && back.reading.flags == r.flags, "seq and flags survive");
    }
    return 0;
}

int ack_target(const uint8_t* data, size_t size) {
    Ack a;
    if (parse_ack(text(data, size), a)) fuzz_assert(!a.has_ts || std::isfinite(a.ts), "ack ts finite");
    return 0;
}

int log_target(const uint8_t* data, size_t size) {
    // The first byte picks how many segments the rest is cut into (torn, corrupt, garbage files);
    // the scan must survive it, and everything it yields must be a record that passed its CRC.
    if (size == 0) return 0;
    MemorySegmentFs fs;
    size_t segments = 1 + data[0] % 4;
    size_t rest = size - 1, chunk = rest / segments + 1;
    for (size_t k = 0, off = 1; k < segments && off < size; ++k, off += chunk)
        fs.append(static_cast<uint32_t>(k), data + off, static_cast<uint32_t>(std::min(chunk, size - off)));
    FlashLog log(fs, 50, 1, 4);
    if (!log.begin()) return 0;
    Reading r;
    for (size_t i = 0; i < log.size(); ++i) (void)log.read(i, r);
    log.set_clock(1.7e9);
    for (size_t i = 0; i < log.size(); ++i) (void)log.read(i, r);
    // Appending after whatever was found works and is read back last.
    Reading n;
    n.seq = 999999;
    n.ts = 1764331200.0;
    n.co2_ppm = 1;
    n.flue_temp_c = 1;
    n.velocity_m_s = 1;
    fuzz_assert(log.push(n), "append after scan");
    fuzz_assert(log.read(log.size() - 1, r) == ReadStatus::Ok && r.seq == 999999, "new record is last");
    log.acknowledge(UINT64_MAX);
    return 0;
}

const Target kTargets[] = {{"json", json_target},       {"command", command_target}, {"config", config_target},
                           {"payload", payload_target}, {"ack", ack_target},         {"log", log_target}};
const size_t kTargetCount = sizeof kTargets / sizeof kTargets[0];

}  // namespace fuzz

#ifdef CT_FUZZ_TARGET
// libFuzzer entry: build with -DCT_FUZZ_TARGET=<index into kTargets> (see Makefile `fuzz`).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz::kTargets[CT_FUZZ_TARGET].fn(data, size);
}
#endif

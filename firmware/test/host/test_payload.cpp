#include <doctest/doctest.h>

#include <vector>

#include "carbontrack/json.h"
#include "carbontrack/payload.h"
#include "carbontrack/sampling.h"
#include "test_support.h"

using namespace carbontrack;

namespace {
// Bit values from contract v1.1 (briefs/docs), written here independently of sampling.h.
constexpr uint16_t kFlagStuckBit = 1, kFlagMissingBit = 2, kFlagWarmupBit = 32, kFlagClockBit = 128;

Reading reading(uint64_t seq, double ts, double co2, double temp, double vel, double p = NAN) {
    Reading r;
    r.seq = seq;
    r.ts = ts;
    r.co2_ppm = co2;
    r.flue_temp_c = temp;
    r.velocity_m_s = vel;
    r.pressure_pa = p;
    return r;
}

Envelope v1(Envelope env) {
    env.v11 = false;  // the v1 golden files have no interval_s / flags
    return env;
}

void check_against_golden(const std::string& file, const std::string& encoded) {
    std::string path = g_golden_dir + "/" + file;
    std::string text = read_text_file(path);
    REQUIRE_MESSAGE(!text.empty(), "golden file missing: " << path);
    json::Value golden, ours;
    std::string err;
    REQUIRE_MESSAGE(json::parse(text, golden, &err), file << ": " << err);
    REQUIRE_MESSAGE(json::parse(encoded, ours, &err), err);
    std::string where;
    CHECK_MESSAGE(json::semantically_equal(ours, golden, &where), file << " differs at " << where << "\n" << encoded);
}
}  // namespace

TEST_CASE("golden: single reading payload") {
    Envelope env = v1({"KGW-S1", "1.0.0", -67, 86400, 0});
    Reading r = reading(1042, 1764331200.0, 84500.0, 186.4, 7.9, 79650.0);
    check_against_golden("telemetry_single.json", encode_payload(env, &r, 1));
}

TEST_CASE("golden: batch payload, one reading without pressure") {
    Envelope env = v1({"KGW-S1", "1.0.0", -71, 90000, 2});
    std::vector<Reading> rs = {reading(1043, 1764331260.0, 84100.0, 187.0, 7.8, 79640.0),
                               reading(1044, 1764331320.0, 83950.5, 186.9, 7.85),
                               reading(1045, 1764331380.0, 85020.0, 188.2, 8.0, 79655.0)};
    check_against_golden("telemetry_batch.json", encode_payload(env, rs.data(), rs.size()));
}

TEST_CASE("golden comparison can fail") {
    Envelope env{"KGW-S1", "1.0.0", -67, 86400, 0};
    Reading r = reading(1042, 1764331200.0, 84500.0, 186.4, 7.9);  // pressure missing
    json::Value golden, ours;
    REQUIRE(json::parse(read_text_file(g_golden_dir + "/telemetry_single.json"), golden));
    REQUIRE(json::parse(encode_payload(env, &r, 1), ours));
    CHECK_FALSE(json::semantically_equal(ours, golden));
}

TEST_CASE("exact bytes of the encoder") {
    Envelope env = v1({"KGW-S1", "1.0.0", -67, 86400, 0});
    Reading r = reading(1042, 1764331200.0, 84500.0, 186.4, 7.9, 79650.0);
    CHECK(encode_payload(env, &r, 1) ==
          R"({"device_id": "KGW-S1", "fw": "1.0.0", "rssi": -67, "uptime_s": 86400, "buffered": 0, "readings": [)"
          R"({"seq": 1042, "ts": 1764331200.0, "co2_ppm": 84500.0, "flue_temp_c": 186.4, "velocity_m_s": 7.9, "pressure_pa": 79650.0}]})");
    CHECK(encode_payload(env, nullptr, 0).find("\"readings\": []") != std::string::npos);
}

TEST_CASE("device id is escaped in the envelope") {
    Envelope env{"we\"ird\\id", "1.0.0", 0, 0, 0};
    json::Value v;
    REQUIRE(json::parse(encode_payload(env, nullptr, 0), v));
    CHECK(v.get("device_id")->string == "we\"ird\\id");
}

TEST_CASE("payload_size and fit_readings agree with the real encoding") {
    Envelope env{"KGW-S1", "1.0.0", -71, 90000, 12345};
    std::vector<Reading> rs;
    for (int i = 0; i < 2000; ++i)
        rs.push_back(reading(100000 + i, 1764331200.0 + 60.0 * i, 84000.0 + i * 0.1, 186.0 + i * 0.01, 7.9, i % 3 ? 79650.0 : NAN));
    CHECK(payload_size(env, rs.data(), 10) == encode_payload(env, rs.data(), 10).size());

    size_t n = fit_readings(env, rs.data(), rs.size(), kMaxPayloadBytes);
    REQUIRE(n > 100);
    REQUIRE(n < rs.size());
    CHECK(encode_payload(env, rs.data(), n).size() <= kMaxPayloadBytes);
    CHECK(encode_payload(env, rs.data(), n + 1).size() > kMaxPayloadBytes);  // as many as fit

    // Exactly at the limit: a limit equal to the size of n readings takes n.
    size_t exact = payload_size(env, rs.data(), 7);
    CHECK(fit_readings(env, rs.data(), rs.size(), exact) == 7);
    CHECK(fit_readings(env, rs.data(), rs.size(), exact - 1) == 6);
    CHECK(fit_readings(env, rs.data(), rs.size(), 50) == 0);
    CHECK(fit_readings(env, rs.data(), 3, kMaxPayloadBytes) == 3);
}

TEST_CASE("golden (firmware): edge values, 64-bit counters, ms timestamps; byte-identical to Python's json.dumps") {
    Envelope env = v1({"KGW-S1", "1.1.0-rc.1", -90, 4294967296ull, 9999});
    std::vector<Reading> rs = {reading(4294967301ull, 1764331210.123, 0.0, -12.5, 0.0, 109999.9),
                               reading(4294967302ull, 1764331270.5, 300000.0, 599.99, 39.999),
                               reading(4294967303ull, 1764331330.001, 84133.3, 186.45, 7.912, 50000.0)};
    std::string encoded = encode_payload(env, rs.data(), rs.size());
    check_against_golden("telemetry_firmware_edge.json", encoded);
    std::string text = read_text_file(g_golden_dir + "/telemetry_firmware_edge.json");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    CHECK(encoded == text);
}

// ---- contract v1.1 (tests/golden/telemetry_v11_*.json, owned by the ingest side) -----------------

TEST_CASE("golden v1.1: interval_s, conv, dp_pa and flags") {
    Envelope env{"KGW-S1", "1.1.0", -67, 86400, 0};
    env.interval_s = 60;
    env.conv.present = true;
    env.conv.stack_diameter_m = 1.2;
    env.conv.velocity_profile_factor = 0.9;
    env.conv.pitot_k = 0.84;
    Reading r = reading(1042, 1764331200.0, 84500.0, 186.4, 7.9, 79650.0);
    r.dp_pa = 31.2;
    r.flags = 0;
    check_against_golden("telemetry_v11_single.json", encode_payload(env, &r, 1));
}

TEST_CASE("golden v1.1: per-reading flags, dp_pa only where measured, no conv") {
    Envelope env{"KGW-S1", "1.1.0", -71, 90000, 3};
    env.interval_s = 10;
    std::vector<Reading> rs = {reading(2001, 1764331200.0, 84100.0, 187.0, 7.8),
                               reading(2002, 1764331210.0, 84100.0, 187.0, 7.8),
                               reading(2003, 1764331220.0, 83950.5, 186.9, 7.85),
                               reading(2004, 1764331230.0, 400.0, 25.0, 0.0),
                               reading(2005, 1764331240.0, 85020.0, 188.2, 8.0, 79655.0)};
    rs[1].flags = kFlagStuckBit;
    rs[2].flags = kFlagMissingBit;
    rs[2].dp_pa = 30.1;
    rs[3].flags = kFlagWarmupBit;
    rs[4].flags = kFlagClockBit;
    check_against_golden("telemetry_v11_flags.json", encode_payload(env, rs.data(), rs.size()));
    // The same readings without a flag differ: the comparison sees flags.
    rs[1].flags = 0;
    json::Value golden, ours;
    REQUIRE(json::parse(read_text_file(g_golden_dir + "/telemetry_v11_flags.json"), golden));
    REQUIRE(json::parse(encode_payload(env, rs.data(), rs.size()), ours));
    CHECK_FALSE(json::semantically_equal(ours, golden));
}

TEST_CASE("v1.1 encoding: conv keys the node does not know are omitted; no conv object when empty") {
    Envelope env{"X", "1", 0, 0, 0};
    env.conv.present = true;
    env.conv.pitot_k = 0.84;
    json::Value v;
    REQUIRE(json::parse(encode_payload(env, nullptr, 0), v));
    REQUIRE(v.get("conv") != nullptr);
    CHECK(v.get("conv")->object.size() == 1);
    CHECK(v.get("conv")->get("pitot_k")->number == 0.84);
    env.conv.pitot_k = NAN;
    REQUIRE(json::parse(encode_payload(env, nullptr, 0), v));
    CHECK(v.get("conv") == nullptr);
    CHECK(v.get("interval_s")->number == 60.0);
    CHECK(v.get("interval_s")->integer_literal);
}

TEST_CASE("sampling flag values are the contract's bits") {
    CHECK(kFlagStuck == 1);
    CHECK(kFlagMissing == 2);
    CHECK(kFlagNoValid == 4);
    CHECK(kFlagReverseFlow == 8);
    CHECK(kFlagSensorFault == 16);
    CHECK(kFlagWarmup == 32);
    CHECK(kFlagOutOfRange == 64);
    CHECK(kFlagClockEstimated == 128);
    CHECK(kInvalidatingFlags == (1 | 4 | 8 | 16 | 32 | 64));
}

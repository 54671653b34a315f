#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "carbontrack/json.h"
#include "carbontrack/node.h"

using namespace carbontrack;

namespace {
NodeConfig config() {
    NodeConfig c;
    c.device_id = "KGW-S1";
    c.factory_code = "KGW";
    c.publish_interval_s = 60;
    c.sample_period_s = 2;
    c.max_payload_bytes = 4096;
    return c;
}

void feed_interval(NodeCore& node, double co2 = 84000.0) {
    for (int i = 0; i < 30; ++i) node.add_sample({co2 + i, 186.0 + 0.01 * i, 45.0, NAN});
}

std::vector<json::Value> readings_of(const std::vector<std::string>& payloads) {
    std::vector<json::Value> out;
    for (const auto& p : payloads) {
        json::Value v;
        REQUIRE(json::parse(p, v));
        for (const auto& r : v.get("readings")->array) out.push_back(r);
    }
    return out;
}
}  // namespace

TEST_CASE("online: each interval becomes one stamped reading with a fresh seq") {
    MemoryStorage ring(ReadingBuffer::required_bytes(100)), seqmem(SequenceCounter::kStorageBytes);
    ReadingBuffer buf(ring, 100);
    SequenceCounter seq(seqmem);
    REQUIRE(buf.begin());
    REQUIRE(seq.begin());
    NodeCore node(config(), buf, seq);
    double t0 = 1764331200.0;
    for (int k = 0; k < 3; ++k) {
        feed_interval(node);
        REQUIRE(node.end_interval(60000 * (k + 1), t0 + 60.0 * k));
    }
    std::vector<std::string> sent;
    FlushResult res = node.flush(Envelope{"KGW-S1", "1.0.0", -60, 180, 0}, [&](const std::string& p) {
        sent.push_back(p);
        return true;
    });
    CHECK(res.published == 3);
    auto rs = readings_of(sent);
    REQUIRE(rs.size() == 3);
    CHECK(rs[0].get("seq")->number == 1);
    CHECK(rs[2].get("seq")->number == 3);
    CHECK(rs[1].get("ts")->number == t0 + 60.0);
    CHECK(rs[0].get("co2_ppm")->number == 84014.5);  // mean of 84000..84029
    CHECK(rs[0].get("pressure_pa") == nullptr);
}

TEST_CASE("before NTP: readings are held, then stamped from the monotonic clock") {
    MemoryStorage ring(ReadingBuffer::required_bytes(100)), seqmem(SequenceCounter::kStorageBytes);
    ReadingBuffer buf(ring, 100);
    SequenceCounter seq(seqmem);
    REQUIRE(buf.begin());
    REQUIRE(seq.begin());
    NodeCore node(config(), buf, seq);
    feed_interval(node);
    node.end_interval(60000, 0.0);  // clock still at 1970
    feed_interval(node);
    node.end_interval(120000, 0.0);
    CHECK(node.pending() == 2);
    CHECK(buf.empty());
    CHECK(node.time_known(1764331300.0, 150000) == 2);  // NTP answered 150 s after boot
    CHECK(buf.size() == 2);
    Reading r;
    REQUIRE(buf.at(0, r));
    CHECK(r.ts == doctest::Approx(1764331210.0));
    CHECK(r.seq == 1);
    REQUIRE(buf.at(1, r));
    CHECK(r.ts == doctest::Approx(1764331270.0));
}

TEST_CASE("offline for long: oldest dropped, counted; after reconnect flushed in limited batches") {
    MemoryStorage ring(ReadingBuffer::required_bytes(50)), seqmem(SequenceCounter::kStorageBytes);
    ReadingBuffer buf(ring, 50);
    SequenceCounter seq(seqmem);
    REQUIRE(buf.begin());
    REQUIRE(seq.begin());
    NodeCore node(config(), buf, seq);
    for (int k = 0; k < 80; ++k) {
        feed_interval(node);
        node.end_interval(60000 * (k + 1), 1764331200.0 + 60.0 * k);
    }
    CHECK(node.dropped() == 30);
    std::vector<std::string> sent;
    node.flush(Envelope{"KGW-S1", "1.0.0", -60, 4800, 0}, [&](const std::string& p) {
        CHECK(p.size() <= 4096);
        sent.push_back(p);
        return true;
    });
    CHECK(sent.size() > 1);
    auto rs = readings_of(sent);
    REQUIRE(rs.size() == 50);
    CHECK(rs.front().get("seq")->number == 31);
    CHECK(rs.back().get("seq")->number == 80);
}

TEST_CASE("an interval without samples makes no reading but is counted") {
    MemoryStorage ring(ReadingBuffer::required_bytes(10)), seqmem(SequenceCounter::kStorageBytes);
    ReadingBuffer buf(ring, 10);
    SequenceCounter seq(seqmem);
    REQUIRE(buf.begin());
    REQUIRE(seq.begin());
    NodeCore node(config(), buf, seq);
    CHECK_FALSE(node.end_interval(60000, 1764331200.0));
    CHECK(node.intervals_without_data() == 1);
    CHECK(buf.empty());
    CHECK(seq.peek() == 1);  // no seq consumed
}

TEST_CASE("aggregator settings come from the config") {
    NodeConfig c = config();
    c.altitude_m = 2000.0;
    c.pitot_coefficient = 0.99;
    c.velocity_profile_factor = 0.92;
    AggregatorSettings s = aggregator_settings(c);
    CHECK(s.site_pressure_pa == doctest::Approx(79500.0).epsilon(2e-4));
    CHECK(s.pitot_coefficient == 0.99);
    CHECK(s.profile_factor == 0.92);
}

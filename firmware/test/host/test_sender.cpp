// The uplink's Sender: contract v1.1 ack semantics, resend after a timeout, payload shrinking
// after failed publishes, and the node pipeline with readings kept in flash before the clock.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "carbontrack/flash_log.h"
#include "carbontrack/json.h"
#include "carbontrack/node.h"
#include "carbontrack/uplink.h"

using namespace carbontrack;

namespace {
Reading make(uint64_t seq) {
    Reading r;
    r.seq = seq;
    r.ts = 1764331200.0 + 60.0 * static_cast<double>(seq);
    r.co2_ppm = 84000.0;
    r.flue_temp_c = 186.4;
    r.velocity_m_s = 7.9;
    return r;
}

std::vector<uint64_t> seqs_of(const std::string& payload, json::Value* doc_out = nullptr) {
    json::Value doc;
    REQUIRE(json::parse(payload, doc));
    std::vector<uint64_t> out;
    for (const auto& r : doc.get("readings")->array) out.push_back(static_cast<uint64_t>(r.get("seq")->number));
    if (doc_out) *doc_out = doc;
    return out;
}
}  // namespace

TEST_CASE("ack mode: readings leave the log only when the server's ack covers their seq") {
    MemorySegmentFs fs;
    FlashLog log(fs, 1000, 1, 10);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 30; ++s) REQUIRE(log.push(make(s)));
    Sender sender(log, 2048, Sender::Mode::RemoveOnAck, 60000);
    std::vector<uint64_t> sent;
    auto publish = [&](const std::string& p) {
        for (uint64_t s : seqs_of(p)) sent.push_back(s);
        return true;
    };
    FlushResult r = sender.flush(Envelope{"KGW-S1", "1.1.0", -60, 100, 0}, publish, 1000);
    CHECK(r.published == 30);
    CHECK(r.messages >= 2);  // 2 KiB payloads
    CHECK(log.size() == 30);  // PUBACK alone removes nothing
    CHECK(sender.in_flight() == 30);
    // A second flush has nothing new to send.
    CHECK(sender.flush(Envelope{"KGW-S1", "1.1.0", -60, 100, 0}, publish, 2000).messages == 0);
    // The server committed up to 12.
    CHECK(sender.on_ack(12, 3000) == 12);
    CHECK(log.size() == 18);
    CHECK(sender.in_flight() == 18);
    // Old or repeated acks change nothing.
    CHECK(sender.on_ack(5, 3500) == 0);
    CHECK(log.size() == 18);
    // No ack for the rest within the timeout: they are sent again, oldest first.
    CHECK_FALSE(sender.tick(3000 + 59999));
    CHECK(sender.tick(3000 + 60000));
    CHECK(sender.in_flight() == 0);
    sent.clear();
    sender.flush(Envelope{"KGW-S1", "1.1.0", -60, 100, 0}, publish, 70000);
    std::vector<uint64_t> want;
    for (uint64_t s = 13; s <= 30; ++s) want.push_back(s);
    CHECK(sent == want);
    CHECK(sender.resends() == 1);
    CHECK(sender.on_ack(30, 71000) == 18);
    CHECK(log.empty());
}

TEST_CASE("buffered counts what is not yet sent; interval_s and flags are in every message") {
    MemorySegmentFs fs;
    FlashLog log(fs, 1000, 1, 10);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 40; ++s) REQUIRE(log.push(make(s)));
    Sender sender(log, 1024, Sender::Mode::RemoveOnAck);
    std::vector<json::Value> docs;
    sender.flush(Envelope{"KGW-S1", "1.1.0", -60, 100, 0}, [&](const std::string& p) {
        json::Value d;
        seqs_of(p, &d);
        CHECK(p.size() <= 1024);
        docs.push_back(d);
        return true;
    }, 0);
    REQUIRE(docs.size() >= 2);
    size_t sent = 0;
    for (const auto& d : docs) {
        sent += d.get("readings")->array.size();
        CHECK(static_cast<size_t>(d.get("buffered")->number) == 40 - sent);
        CHECK(d.get("interval_s") != nullptr);
        CHECK(d.get("readings")->array[0].get("flags") != nullptr);
    }
    CHECK(sent == 40);
}

TEST_CASE("a failed publish halves the payload limit (down to 1 KiB); successes grow it back") {
    MemorySegmentFs fs;
    FlashLog log(fs, 5000, 1);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 2000; ++s) REQUIRE(log.push(make(s)));
    Sender sender(log, 16384, Sender::Mode::RemoveOnPuback);
    CHECK(sender.payload_limit() == 16384);
    auto fail = [](const std::string&) { return false; };
    sender.flush(Envelope{"X", "1", 0, 0, 0}, fail, 0);
    CHECK(sender.payload_limit() == 8192);
    for (int i = 0; i < 6; ++i) sender.flush(Envelope{"X", "1", 0, 0, 0}, fail, 0);
    CHECK(sender.payload_limit() == 1024);
    CHECK(sender.publish_failures() == 7);
    size_t biggest = 0;
    auto ok = [&](const std::string& p) {
        biggest = std::max(biggest, p.size());
        return true;
    };
    sender.flush(Envelope{"X", "1", 0, 0, 0}, ok, 0, 8);
    CHECK(biggest <= 1024);
    CHECK(sender.payload_limit() == 2048);
    // The node cap: a Sender never goes above the contract's 64 KiB, config caps at 16 KiB.
    Sender big(log, 1 << 20, Sender::Mode::RemoveOnPuback);
    CHECK(big.payload_limit() == kMaxPayloadBytes);
}

TEST_CASE("node with the flash log: readings before the clock are kept in flash and dated later") {
    NodeConfig cfg;
    cfg.device_id = "KGW-S1";
    cfg.factory_code = "KGW";
    cfg.publish_interval_s = 60;
    cfg.sample_period_s = 60;
    MemorySegmentFs fs;
    FlashLog log(fs, 100, 5, 10);
    REQUIRE(log.begin());
    MemoryStorage seqmem(SequenceCounter::kStorageBytes);
    SequenceCounter seq(seqmem);
    REQUIRE(seq.begin());
    NodeCore node(cfg, log, seq, 240, Sender::Mode::RemoveOnAck);
    Sample s;
    s.co2_ppm = 84000.0;
    s.flue_temp_c = 186.0;
    s.dp_pa = 30.0;
    for (uint64_t k = 1; k <= 3; ++k) {
        node.add_sample(s);
        REQUIRE(node.end_interval(k * 60000, 0.0));  // no clock yet
    }
    CHECK(node.pending() == 0);  // nothing held in RAM
    CHECK(log.size() == 3);
    std::vector<std::string> out;
    auto publish = [&](const std::string& p) {
        out.push_back(p);
        return true;
    };
    FlushResult r = node.flush(Envelope{"KGW-S1", "1.1.0", -60, 200, 0}, publish, 4, 200000);
    CHECK(r.waiting_for_clock);
    CHECK(out.empty());
    // The ack's server time sets the clock: wall 1764331500.0 at mono 200,000 ms.
    node.time_known(1764331500.0, 200000);
    node.flush(Envelope{"KGW-S1", "1.1.0", -60, 200, 0}, publish, 4, 200000);
    REQUIRE(out.size() == 1);
    json::Value doc;
    std::vector<uint64_t> got = seqs_of(out[0], &doc);
    CHECK(got.size() == 3);
    const auto& rs = doc.get("readings")->array;
    CHECK(rs[0].get("ts")->number == 1764331500.0 - 140.0);  // taken at 60 s, clock known at 200 s
    CHECK(rs[2].get("ts")->number == 1764331500.0 - 20.0);
    CHECK((static_cast<int>(rs[0].get("flags")->number) & 128) == 128);
    CHECK(doc.get("interval_s")->number == 60.0);
    CHECK(rs[0].get("dp_pa")->number == 30.0);
}

TEST_CASE("in-flight readings stay right when a full log drops its oldest") {
    MemorySegmentFs fs;
    FlashLog log(fs, 20, 1, 10);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 20; ++s) REQUIRE(log.push(make(s)));
    Sender sender(log, 16384, Sender::Mode::RemoveOnAck);
    std::vector<uint64_t> sent;
    auto publish = [&](const std::string& p) {
        for (uint64_t s : seqs_of(p)) sent.push_back(s);
        return true;
    };
    sender.flush(Envelope{"X", "1", 0, 0, 0}, publish, 0);
    CHECK(sender.in_flight() == 20);
    for (uint64_t s = 21; s <= 25; ++s) REQUIRE(log.push(make(s)));  // 1..5 dropped (full, no ack)
    CHECK(log.dropped() == 5);
    CHECK(sender.in_flight() == 15);  // 6..20 still in flight
    sent.clear();
    sender.flush(Envelope{"X", "1", 0, 0, 0}, publish, 0);
    CHECK(sent == std::vector<uint64_t>{21, 22, 23, 24, 25});  // exactly the unsent ones
    CHECK(sender.on_ack(22, 0) == 17);
    CHECK(sender.in_flight() == 3);
}

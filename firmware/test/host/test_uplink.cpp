#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "carbontrack/json.h"
#include "carbontrack/uplink.h"

using namespace carbontrack;

namespace {
Reading make(uint64_t seq) {
    Reading r;
    r.seq = seq;
    r.ts = 1764331200.0 + 60.0 * static_cast<double>(seq);
    r.co2_ppm = 84123.4;
    r.flue_temp_c = 186.45;
    r.velocity_m_s = 7.912;
    r.pressure_pa = 79650.1;
    return r;
}

std::vector<uint64_t> seqs_of(const std::string& payload, uint32_t* buffered = nullptr) {
    json::Value v;
    REQUIRE(json::parse(payload, v));
    if (buffered) *buffered = static_cast<uint32_t>(v.get("buffered")->number);
    std::vector<uint64_t> out;
    for (const auto& r : v.get("readings")->array) out.push_back(static_cast<uint64_t>(r.get("seq")->number));
    return out;
}
}  // namespace

TEST_CASE("flush publishes everything in order, in batches within the limit") {
    MemoryStorage mem(ReadingBuffer::required_bytes(3000));
    ReadingBuffer buf(mem, 3000);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 2500; ++s) buf.push(make(s));
    std::vector<std::string> sent;
    Envelope env{"KGW-S1", "1.0.0", -70, 10, 0};
    FlushResult res = flush_buffer(buf, env, [&](const std::string& p) {
        sent.push_back(p);
        return true;
    });
    CHECK(res.published == 2500);
    CHECK_FALSE(res.failed);
    CHECK(buf.empty());
    REQUIRE(sent.size() >= 2);
    uint64_t expect = 1;
    for (size_t i = 0; i < sent.size(); ++i) {
        CHECK(sent[i].size() <= kMaxPayloadBytes);
        uint32_t buffered = 0;
        for (uint64_t s : seqs_of(sent[i], &buffered)) CHECK(s == expect++);
        if (i + 1 < sent.size()) CHECK(buffered > 0);
        else CHECK(buffered == 0);
    }
    CHECK(expect == 2501);
    CHECK(res.messages == sent.size());
}

TEST_CASE("smaller device limit makes more, smaller messages") {
    MemoryStorage mem(ReadingBuffer::required_bytes(500));
    ReadingBuffer buf(mem, 500);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 500; ++s) buf.push(make(s));
    size_t count = 0;
    flush_buffer(buf, Envelope{"KGW-S1", "1.0.0", -70, 10, 0}, [&](const std::string& p) {
        CHECK(p.size() <= 4096);
        ++count;
        return true;
    }, 4096);
    CHECK(count > 10);
    CHECK(buf.empty());
}

TEST_CASE("readings stay buffered until the publish is acknowledged") {
    MemoryStorage mem(ReadingBuffer::required_bytes(100));
    ReadingBuffer buf(mem, 100);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 50; ++s) buf.push(make(s));
    int calls = 0;
    FlushResult res = flush_buffer(buf, Envelope{"KGW-S1", "1.0.0", 0, 0, 0}, [&](const std::string&) {
        ++calls;
        return calls == 1;  // first batch acked, second not
    }, 2048);
    CHECK(res.failed);
    CHECK(res.messages == 1);
    CHECK(buf.size() == 50 - res.published);
    Reading r;
    REQUIRE(buf.at(0, r));
    CHECK(r.seq == res.published + 1);  // next unacked reading is first again

    // Broker back: the rest goes out, nothing repeated, nothing lost.
    std::set<uint64_t> seen;
    flush_buffer(buf, Envelope{"KGW-S1", "1.0.0", 0, 0, 0}, [&](const std::string& p) {
        for (uint64_t s : seqs_of(p)) CHECK(seen.insert(s).second);
        return true;
    }, 2048);
    CHECK(buf.empty());
    CHECK(seen.size() == 50 - res.published);
    CHECK(*seen.begin() == res.published + 1);
}

TEST_CASE("max_messages bounds one flush call") {
    MemoryStorage mem(ReadingBuffer::required_bytes(100));
    ReadingBuffer buf(mem, 100);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 100; ++s) buf.push(make(s));
    FlushResult res = flush_buffer(buf, Envelope{"X", "1", 0, 0, 0}, [](const std::string&) { return true; }, 2048, 2);
    CHECK(res.messages == 2);
    CHECK(buf.size() == 100 - res.published);
}

TEST_CASE("corrupt records are skipped and removed with their batch") {
    MemoryStorage mem(ReadingBuffer::required_bytes(10));
    ReadingBuffer buf(mem, 10);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 5; ++s) buf.push(make(s));
    mem.bytes()[2 * ReadingBuffer::kHeaderBytes + 1 * ReadingBuffer::kRecordBytes + 9] ^= 0x40;  // record seq 2
    std::vector<uint64_t> got;
    FlushResult res = flush_buffer(buf, Envelope{"X", "1", 0, 0, 0}, [&](const std::string& p) {
        for (uint64_t s : seqs_of(p)) got.push_back(s);
        return true;
    });
    CHECK(res.corrupt == 1);
    CHECK(got == std::vector<uint64_t>{1, 3, 4, 5});
    CHECK(buf.empty());
}

TEST_CASE("also_waiting is added to buffered") {
    MemoryStorage mem(ReadingBuffer::required_bytes(10));
    ReadingBuffer buf(mem, 10);
    REQUIRE(buf.begin());
    buf.push(make(1));
    uint32_t buffered = 0;
    flush_buffer(buf, Envelope{"X", "1", 0, 0, 0}, [&](const std::string& p) {
        seqs_of(p, &buffered);
        return true;
    }, kMaxPayloadBytes, SIZE_MAX, 7);
    CHECK(buffered == 7);
}

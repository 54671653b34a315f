#include <doctest/doctest.h>

#include "carbontrack/ring_buffer.h"

using namespace carbontrack;

namespace {
Reading make(uint64_t seq) {
    Reading r;
    r.seq = seq;
    r.ts = 1764331200.0 + 60.0 * static_cast<double>(seq);
    r.co2_ppm = 80000.0 + static_cast<double>(seq);
    r.flue_temp_c = 186.4;
    r.velocity_m_s = 7.9;
    if (seq % 2) r.pressure_pa = 79650.0;
    return r;
}
}  // namespace

TEST_CASE("fresh buffer formats itself; too small storage is refused") {
    MemoryStorage small(ReadingBuffer::required_bytes(10) - 1);
    ReadingBuffer tiny(small, 10);
    CHECK_FALSE(tiny.begin());

    MemoryStorage mem(ReadingBuffer::required_bytes(10));
    ReadingBuffer buf(mem, 10);
    REQUIRE(buf.begin());
    CHECK(buf.formatted_on_begin());
    CHECK(buf.empty());
    CHECK(ReadingBuffer::capacity_for(ReadingBuffer::required_bytes(10)) == 10);
    CHECK(ReadingBuffer::capacity_for(10) == 0);
}

TEST_CASE("push, read in order, pop") {
    MemoryStorage mem(ReadingBuffer::required_bytes(5));
    ReadingBuffer buf(mem, 5);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 3; ++s) REQUIRE(buf.push(make(s)));
    CHECK(buf.size() == 3);
    Reading r;
    REQUIRE(buf.at(0, r));
    CHECK(r.seq == 1);
    CHECK(r.has_pressure());
    REQUIRE(buf.at(1, r));
    CHECK(r.seq == 2);
    CHECK_FALSE(r.has_pressure());
    CHECK(r.ts == make(2).ts);
    CHECK_FALSE(buf.at(3, r));
    REQUIRE(buf.pop(2));
    REQUIRE(buf.at(0, r));
    CHECK(r.seq == 3);
    CHECK(buf.pop(99));  // clamps
    CHECK(buf.empty());
}

TEST_CASE("when full the oldest is dropped first and counted") {
    MemoryStorage mem(ReadingBuffer::required_bytes(4));
    ReadingBuffer buf(mem, 4);
    REQUIRE(buf.begin());
    for (uint64_t s = 1; s <= 10; ++s) REQUIRE(buf.push(make(s)));
    CHECK(buf.size() == 4);
    CHECK(buf.dropped() == 6);
    for (size_t i = 0; i < 4; ++i) {
        Reading r;
        REQUIRE(buf.at(i, r));
        CHECK(r.seq == 7 + i);
    }
}

TEST_CASE("state survives a reboot, including wrap-around and the drop count") {
    MemoryStorage mem(ReadingBuffer::required_bytes(4));
    {
        ReadingBuffer buf(mem, 4);
        REQUIRE(buf.begin());
        for (uint64_t s = 1; s <= 6; ++s) buf.push(make(s));
        buf.pop(1);
    }
    ReadingBuffer again(mem, 4);
    REQUIRE(again.begin());
    CHECK_FALSE(again.formatted_on_begin());
    CHECK(again.size() == 3);
    CHECK(again.dropped() == 2);
    Reading r;
    REQUIRE(again.at(0, r));
    CHECK(r.seq == 4);
    REQUIRE(again.at(2, r));
    CHECK(r.seq == 6);
}

TEST_CASE("a torn header write falls back to the previous header") {
    MemoryStorage mem(ReadingBuffer::required_bytes(8));
    {
        ReadingBuffer buf(mem, 8);
        REQUIRE(buf.begin());
        buf.push(make(1));
        buf.push(make(2));
    }
    // Corrupt the newest header slot (generation 3 → slot 1).
    mem.bytes()[ReadingBuffer::kHeaderBytes + 13] ^= 0xFF;
    ReadingBuffer again(mem, 8);
    REQUIRE(again.begin());
    CHECK(again.size() == 1);  // the state before the last push
}

TEST_CASE("a corrupt record is reported, not returned as data") {
    MemoryStorage mem(ReadingBuffer::required_bytes(4));
    ReadingBuffer buf(mem, 4);
    REQUIRE(buf.begin());
    buf.push(make(1));
    buf.push(make(2));
    mem.bytes()[2 * ReadingBuffer::kHeaderBytes + 20] ^= 0x01;  // inside record 0
    Reading r;
    CHECK_FALSE(buf.at(0, r));
    CHECK(buf.at(1, r));
}

TEST_CASE("a different capacity reformats instead of misreading") {
    MemoryStorage mem(ReadingBuffer::required_bytes(8));
    {
        ReadingBuffer buf(mem, 8);
        REQUIRE(buf.begin());
        buf.push(make(1));
    }
    ReadingBuffer other(mem, 6);
    REQUIRE(other.begin());
    CHECK(other.formatted_on_begin());
    CHECK(other.empty());
}

TEST_CASE("storage write failure is reported") {
    MemoryStorage mem(ReadingBuffer::required_bytes(4));
    ReadingBuffer buf(mem, 4);
    REQUIRE(buf.begin());
    mem.fail_next_writes(1);
    CHECK_FALSE(buf.push(make(1)));
    CHECK(buf.empty());
}

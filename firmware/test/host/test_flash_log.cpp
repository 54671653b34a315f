// The flash log (carbontrack/flash_log.h): record codec and queue logic on RAM segments, then the
// same code on real littlefs (lib/littlefs, the copy the node runs) on a RAM NOR flash with the
// partition's geometry: default capacity, a day offline, power cuts at random points, wear.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "carbontrack/flash_log.h"
#include "carbontrack/lfs_segment_fs.h"
#include "carbontrack/sampling.h"
#include "carbontrack/uplink.h"
#include "ram_flash.h"

using namespace carbontrack;

namespace {

Reading make(uint64_t seq) {
    Reading r;
    r.seq = seq;
    r.ts = 1764331200.0 + 60.0 * static_cast<double>(seq);
    r.co2_ppm = 84000.0 + static_cast<double>(seq % 1000) / 10.0;
    r.flue_temp_c = 186.25;
    r.velocity_m_s = 7.912;
    r.pressure_pa = seq % 2 ? 79650.3 : NAN;
    r.dp_pa = seq % 3 ? 31.27 : NAN;
    r.flags = static_cast<uint16_t>(seq % 4 == 0 ? 2 : 0);
    return r;
}

std::vector<uint64_t> seqs(FlashLog& log) {
    std::vector<uint64_t> out;
    Reading r;
    for (size_t i = 0; i < log.size(); ++i)
        if (log.read(i, r) == ReadStatus::Ok) out.push_back(r.seq);
    return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {  // [from, to]
    std::vector<uint64_t> v;
    for (uint64_t s = from; s <= to; ++s) v.push_back(s);
    return v;
}

}  // namespace

TEST_CASE("log record: every field round-trips at its published precision; CRC catches a flipped bit") {
    for (uint64_t s : {1ull, 2ull, 3ull, 4ull, 4294967303ull}) {
        LogRecord in;
        in.reading = make(s);
        uint8_t b[logrec::kBytes];
        logrec::encode(in, b);
        LogRecord out;
        REQUIRE(logrec::decode(b, out));
        CHECK(out.dated);
        CHECK(out.reading.seq == s);
        CHECK(out.reading.ts == in.reading.ts);
        CHECK(out.reading.co2_ppm == in.reading.co2_ppm);
        CHECK(out.reading.flue_temp_c == 186.25);
        CHECK(out.reading.velocity_m_s == 7.912);
        CHECK(std::isnan(out.reading.pressure_pa) == std::isnan(in.reading.pressure_pa));
        if (in.reading.has_pressure()) CHECK(out.reading.pressure_pa == 79650.3);
        if (in.reading.has_dp()) CHECK(out.reading.dp_pa == 31.27);
        CHECK(out.reading.flags == in.reading.flags);
        for (size_t bit = 0; bit < logrec::kBytes * 8; bit += 7) {
            uint8_t c[logrec::kBytes];
            std::memcpy(c, b, sizeof c);
            c[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            CHECK_FALSE(logrec::decode(c, out));
        }
    }
    LogRecord u;
    u.reading = make(9);
    u.dated = false;
    u.boot_id = 77;
    u.mono_ms = 123456789;
    uint8_t b[logrec::kBytes];
    logrec::encode(u, b);
    LogRecord out;
    REQUIRE(logrec::decode(b, out));
    CHECK_FALSE(out.dated);
    CHECK(out.boot_id == 77);
    CHECK(out.mono_ms == 123456789);
    // Millisecond timestamps survive exactly (ts is stored in ms).
    LogRecord ms;
    ms.reading = make(5);
    ms.reading.ts = 1764331330.001;
    logrec::encode(ms, b);
    REQUIRE(logrec::decode(b, out));
    CHECK(out.reading.ts == 1764331330.001);
}

TEST_CASE("flash log on RAM segments: order, rotation, reboot scan, capacity drops") {
    MemorySegmentFs fs;
    {
        FlashLog log(fs, 25, 1, 10);
        REQUIRE(log.begin());
        for (uint64_t s = 1; s <= 23; ++s) REQUIRE(log.push(make(s)));
        CHECK(log.size() == 23);
        CHECK(log.segments() == 3);
        CHECK(seqs(log) == range(1, 23));
    }
    {
        FlashLog log(fs, 25, 2, 10);  // reboot: recovered by scanning, nothing else was written
        REQUIRE(log.begin());
        CHECK(seqs(log) == range(1, 23));
        for (uint64_t s = 24; s <= 40; ++s) REQUIRE(log.push(make(s)));
        CHECK(log.dropped() == 15);  // 40 readings, 25 kept
        CHECK(seqs(log) == range(16, 40));
        CHECK(log.segments() <= 4);  // at most capacity + one segment on storage
    }
    FlashLog again(fs, 25, 3, 10);
    REQUIRE(again.begin());
    CHECK(seqs(again) == range(16, 40));
}

TEST_CASE("flash log: ack removes exactly what it covers and deletes drained segments") {
    MemorySegmentFs fs;
    FlashLog log(fs, 100, 1, 10);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 35; ++s) REQUIRE(log.push(make(s)));
    CHECK(log.acknowledge(0) == 0);
    CHECK(log.acknowledge(12) == 12);
    CHECK(seqs(log) == range(13, 35));
    CHECK(log.segments() == 3);  // segment 0 (1..10) deleted, 11..20 still holds 13..20
    CHECK(log.acknowledge(35) == 23);
    CHECK(log.empty());
    CHECK(log.segments() == 0);
    // After a reboot, an ack mid-segment means that segment's acked records come again (resent,
    // the server ignores repeated seqs); nothing unacked is lost.
    for (uint64_t s = 36; s <= 45; ++s) REQUIRE(log.push(make(s)));
    log.acknowledge(40);
    FlashLog rebooted(fs, 100, 2, 10);
    REQUIRE(rebooted.begin());
    CHECK(seqs(rebooted) == range(36, 45));
}

TEST_CASE("flash log: storage errors are counted; NOSPC gives up the oldest segment, not the new reading") {
    MemorySegmentFs fs;
    FlashLog log(fs, 100, 1, 10);
    REQUIRE(log.begin());
    for (uint64_t s = 1; s <= 25; ++s) REQUIRE(log.push(make(s)));
    fs.fail_next_appends(1, -5);  // LFS_ERR_IO: the reading is lost and counted
    CHECK_FALSE(log.push(make(26)));
    CHECK(log.storage_errors() == 1);
    CHECK(log.dropped() == 1);
    fs.fail_next_appends(1, SegmentFs::kErrNoSpace);  // full: drop segment 1..10, keep 27
    CHECK(log.push(make(27)));
    CHECK(log.storage_errors() == 2);
    CHECK(seqs(log) == std::vector<uint64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27});
    CHECK(log.dropped() == 11);
}

TEST_CASE("flash log: a corrupt record is skipped and counted; a torn tail seals its segment") {
    MemorySegmentFs fs;
    {
        FlashLog log(fs, 100, 1, 10);
        REQUIRE(log.begin());
        for (uint64_t s = 1; s <= 15; ++s) REQUIRE(log.push(make(s)));
    }
    (*fs.segment(0))[3 * logrec::kBytes + 10] ^= 0x01;  // seq 4 rots
    fs.segment(1)->resize(fs.segment(1)->size() - 7);   // seq 15 torn
    FlashLog log(fs, 100, 2, 10);
    REQUIRE(log.begin());
    CHECK(log.corrupt() == 1);
    std::vector<uint64_t> want = range(1, 14);
    want.erase(want.begin() + 3);
    CHECK(seqs(log) == want);
    REQUIRE(log.push(make(16)));
    CHECK(log.segments() == 3);  // not appended behind the torn bytes
    FlashLog again(fs, 100, 3, 10);
    REQUIRE(again.begin());
    want.push_back(16);
    CHECK(seqs(again) == want);
}

TEST_CASE("flash log: readings before the clock is known are kept with their monotonic stamp") {
    MemorySegmentFs fs;
    FlashLog log(fs, 100, 7, 10);
    REQUIRE(log.begin());
    Reading a = make(1), b = make(2);
    REQUIRE(log.push_undated(a, 60000));
    REQUIRE(log.push_undated(b, 120000));
    Reading r;
    CHECK(log.read(0, r) == ReadStatus::NotReady);
    // The clock: wall 1764331500.0 at mono 150000 ms.
    log.set_clock(1764331500.0 - 150.0);
    REQUIRE(log.read(0, r) == ReadStatus::Ok);
    CHECK(r.ts == 1764331410.0);
    CHECK((r.flags & 128));  // CLOCK_ESTIMATED (contract bit)
    REQUIRE(log.read(1, r) == ReadStatus::Ok);
    CHECK(r.ts == 1764331470.0);
    // After a reboot before the clock was known, such readings have no time base: dropped, counted.
    FlashLog next_boot(fs, 100, 8, 10);
    REQUIRE(next_boot.begin());
    CHECK(next_boot.undatable() == 2);
    CHECK(next_boot.read(0, r) == ReadStatus::Corrupt);
}

// ---- real littlefs ----------------------------------------------------------------------------

namespace {
struct Node {  // what the device has after boot: a mounted littlefs and the log on it
    lfs_t lfs{};
    std::unique_ptr<LfsSegmentFs> fs;
    std::unique_ptr<FlashLog> log;
    bool mounted = false;
    int boot(RamFlash& flash, uint32_t capacity, uint32_t boot_id) {
        int rc = flash.mount(lfs);
        if (rc != 0) return rc;
        mounted = true;
        fs = std::make_unique<LfsSegmentFs>(lfs);
        log = std::make_unique<FlashLog>(*fs, capacity, boot_id);
        return log->begin() ? 0 : -1;
    }
    ~Node() {
        log.reset();
        fs.reset();
        if (mounted) lfs_unmount(&lfs);
    }
};
}  // namespace

TEST_CASE("littlefs: the default capacity (10,000) works; a day offline at the shortest interval fits") {
    RamFlash flash;  // 224 × 4 KiB, esp_littlefs defaults
    const uint32_t capacity = 10000;  // config default buf_cap
    const uint64_t day_at_10s = 86400 / 10;  // interval_s minimum is 10 s
    {
        Node n;
        REQUIRE(n.boot(flash, capacity, 1) == 0);
        for (uint64_t s = 1; s <= day_at_10s; ++s) REQUIRE_MESSAGE(n.log->push(make(s)), "seq " << s);
        CHECK(n.log->storage_errors() == 0);
        CHECK(n.log->dropped() == 0);
    }
    {
        Node n;  // reboot: the whole day is there, in order
        REQUIRE(n.boot(flash, capacity, 2) == 0);
        CHECK(seqs(*n.log) == range(1, day_at_10s));
        CHECK(n.log->corrupt() == 0);
        // Past capacity: the oldest are dropped, no storage error ever.
        for (uint64_t s = day_at_10s + 1; s <= capacity + 500; ++s) REQUIRE(n.log->push(make(s)));
        CHECK(n.log->storage_errors() == 0);
        CHECK(n.log->dropped() == 500);
        CHECK(n.log->size() == capacity);
        lfs_ssize_t used = lfs_fs_size(&n.lfs);
        MESSAGE("littlefs blocks in use at capacity: " << used << " of " << LfsGeometry::kBlockCount);
        CHECK(used < static_cast<lfs_ssize_t>(LfsGeometry::kBlockCount));
    }
    Node n;
    REQUIRE(n.boot(flash, capacity, 3) == 0);
    CHECK(seqs(*n.log) == range(501, capacity + 500));
}

TEST_CASE("littlefs: power cut at random points loses at most the record being written") {
    std::mt19937 rng(20261201);
    int cuts = 0;
    for (int trial = 0; trial < 40; ++trial) {
        RamFlash flash;
        std::set<uint64_t> committed;  // push() returned true and no ack removed it
        uint64_t next = 1, acked = 0;
        uint32_t boot = 1;
        {
            Node n;
            REQUIRE(n.boot(flash, 400, boot++) == 0);
            for (int i = 0; i < 150; ++i) {
                REQUIRE(n.log->push(make(next)));
                committed.insert(next++);
            }
            acked = 60;  // some segments drained and deleted, one half-acked
            n.log->acknowledge(acked);
        }
        // Power fails somewhere in the next few hundred flash operations of appends and acks.
        flash.cut_power_after(1 + rng() % 600, static_cast<uint32_t>(rng()));
        uint64_t in_progress = 0;
        {
            Node n;
            if (n.boot(flash, 400, boot++) == 0) {
                for (int i = 0; i < 200 && !flash.power_lost(); ++i) {
                    in_progress = next;
                    if (n.log->push(make(next))) committed.insert(next);
                    ++next;
                    if (i % 37 == 36 && !flash.power_lost()) {
                        acked += 30;
                        n.log->acknowledge(acked);
                    }
                }
            }
            if (flash.power_lost()) ++cuts;
            n.log.reset();
            n.fs.reset();
            n.mounted = false;  // no clean unmount after a power cut
        }
        flash.restore_power();
        Node n;
        REQUIRE_MESSAGE(n.boot(flash, 400, boot++) == 0, "trial " << trial << ": remount failed");
        std::vector<uint64_t> got = seqs(*n.log);
        // In order, no duplicates, nothing invented.
        for (size_t i = 1; i < got.size(); ++i) REQUIRE(got[i] > got[i - 1]);
        std::set<uint64_t> have(got.begin(), got.end());
        for (uint64_t s : have) CHECK((s < next));
        // Every committed, unacknowledged reading is there; the only one that may be missing is
        // the one whose append the power cut interrupted (its push never returned true).
        for (uint64_t s : committed) {
            if (s <= acked) continue;
            CHECK_MESSAGE(have.count(s) == 1, "trial " << trial << ": lost committed seq " << s);
        }
        if (have.count(in_progress) == 0 && in_progress) committed.erase(in_progress);
        // The log keeps working after the cut.
        REQUIRE(n.log->push(make(next)));
        CHECK(n.log->storage_errors() == 0);
    }
    CHECK(cuts >= 30);  // the cut really happened in (almost) every trial
}

TEST_CASE("littlefs wear: block erases per reading give >= 10 years at one reading a minute") {
    // Two regimes, one reading a minute: online (each reading appended, published, acked, its
    // segment deleted) and an outage (9,000 readings buffered, then drained in acks of 120).
    // Life = partition blocks × 100,000 erase cycles (ESP32 NOR flash, datasheet minimum) /
    // (erases per reading × 525,600 readings a year), valid when wear is spread: checked below
    // by the hottest block never passing block_cycles + 1 (littlefs then moves that metadata pair).
    RamFlash flash;
    Node n;
    REQUIRE(n.boot(flash, 10000, 1) == 0);
    uint64_t seq = 1;
    const uint64_t online = 20000, outage = 9000;
    uint64_t e0 = flash.total_erases();
    for (uint64_t i = 0; i < online; ++i) {
        REQUIRE(n.log->push(make(seq)));
        n.log->acknowledge(seq++);
    }
    double online_per_reading = static_cast<double>(flash.total_erases() - e0) / static_cast<double>(online);
    e0 = flash.total_erases();
    for (uint64_t i = 0; i < outage; ++i) REQUIRE(n.log->push(make(seq++)));
    while (!n.log->empty()) {
        Reading r;
        uint64_t last = 0;
        for (size_t k = 0; k < 120 && k < n.log->size(); ++k)
            if (n.log->read(k, r) == ReadStatus::Ok) last = r.seq;
        n.log->acknowledge(last);
    }
    double outage_per_reading = static_cast<double>(flash.total_erases() - e0) / static_cast<double>(outage);
    CHECK(n.log->storage_errors() == 0);
    const double blocks = LfsGeometry::kBlockCount, cycles = 100000.0, per_year = 525600.0;
    double worst = std::max(online_per_reading, outage_per_reading);
    double years = blocks * cycles / (worst * per_year);
    size_t blocks_used = 0;
    for (uint32_t e : flash.erases()) blocks_used += e > 0;
    MESSAGE("erases/reading online " << online_per_reading << ", outage " << outage_per_reading << "; hottest block "
                                     << flash.max_block_erases() << " erases; " << blocks_used << " blocks erased; life "
                                     << years << " years");
    std::printf("FLASH-WEAR online_erases_per_reading=%.4f outage_erases_per_reading=%.4f max_block_erases=%u "
                "blocks_erased=%zu life_years=%.1f\n",
                online_per_reading, outage_per_reading, flash.max_block_erases(), blocks_used, years);
    CHECK(years >= 10.0);
    // Wear is spread: the hot metadata pair moves after block_cycles erases instead of wearing one
    // block out (`make wear` runs 200,000 readings: the hottest block stays at block_cycles + 1).
    CHECK(flash.max_block_erases() <= 2 * static_cast<uint32_t>(LfsGeometry::kBlockCycles));
    CHECK(blocks_used >= LfsGeometry::kBlockCount / 2);
}

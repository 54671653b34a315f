#include <doctest/doctest.h>

#include <vector>

#include "carbontrack/clock.h"

using namespace carbontrack;

TEST_CASE("stamp: ts = wall_now − (mono_now − mono_sample)") {
    CHECK(stamp_time(1764331260.0, 125000, 65000) == doctest::Approx(1764331200.0));
    CHECK(stamp_time(1764331260.0, 125000, 125000) == 1764331260.0);
}

TEST_CASE("wall time plausibility: 1970 after boot is not a time") {
    CHECK_FALSE(wall_time_plausible(12.0));
    CHECK(wall_time_plausible(1764331200.0));
}

TEST_CASE("held readings are stamped once time is known, in order") {
    PendingStamps p(10);
    for (uint64_t i = 0; i < 3; ++i) {
        Reading r;
        r.seq = i + 1;
        p.hold(r, 60000 * (i + 1));  // at 60 s, 120 s, 180 s after boot
    }
    CHECK(p.size() == 3);
    std::vector<Reading> out;
    // NTP answers at 200 s after boot: 2025-11-28T12:03:20Z
    size_t n = p.release(1764331400.0, 200000, [&](const Reading& r) { out.push_back(r); });
    CHECK(n == 3);
    REQUIRE(out.size() == 3);
    CHECK(out[0].seq == 1);
    CHECK(out[0].ts == doctest::Approx(1764331260.0));
    CHECK(out[2].ts == doctest::Approx(1764331380.0));
    CHECK(p.size() == 0);
}

TEST_CASE("pending queue drops oldest when full and counts it") {
    PendingStamps p(2);
    for (uint64_t i = 1; i <= 5; ++i) {
        Reading r;
        r.seq = i;
        p.hold(r, i);
    }
    CHECK(p.dropped() == 3);
    std::vector<uint64_t> seqs;
    p.release(1764331400.0, 10, [&](const Reading& r) { seqs.push_back(r.seq); });
    CHECK(seqs == std::vector<uint64_t>{4, 5});
    PendingStamps none(0);
    none.hold(Reading{}, 1);
    CHECK(none.dropped() == 1);
}

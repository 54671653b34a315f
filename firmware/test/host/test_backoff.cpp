#include <doctest/doctest.h>

#include <set>

#include "carbontrack/backoff.h"

using namespace carbontrack;

TEST_CASE("exponential growth up to the cap, with jitter in [e/2, e]") {
    uint32_t fixed = 0;
    Backoff b(1000, 60000, [&] { return fixed; });
    CHECK(b.next_delay_ms() == 500);   // e = 1000, rng 0 → e/2
    CHECK(b.next_delay_ms() == 1000);  // e = 2000
    CHECK(b.next_delay_ms() == 2000);  // e = 4000
    for (int i = 0; i < 20; ++i) b.next_delay_ms();
    CHECK(b.ceiling_ms() == 60000);
    fixed = 0xFFFFFFFFu;
    uint32_t d = b.next_delay_ms();
    CHECK(d >= 30000);
    CHECK(d <= 60000);
}

TEST_CASE("reset after a successful connect") {
    Backoff b(500, 10000, [] { return 0u; });
    for (int i = 0; i < 5; ++i) b.next_delay_ms();
    CHECK(b.attempts() == 5);
    b.reset();
    CHECK(b.next_delay_ms() == 250);
}

TEST_CASE("jitter spreads nodes apart") {
    XorShift32 rng(12345);
    std::set<uint32_t> delays;
    for (int node = 0; node < 20; ++node) {
        Backoff b(1000, 60000, [&] { return rng(); });
        for (int i = 0; i < 6; ++i) b.next_delay_ms();
        uint32_t d = b.next_delay_ms();  // e = 60000 (capped from 64000)
        CHECK(d >= 30000);
        CHECK(d <= 60000);
        delays.insert(d);
    }
    CHECK(delays.size() > 15);
}

TEST_CASE("no overflow with huge attempt counts") {
    Backoff b(1000, 0xFFFFFFF0u, [] { return 7u; });
    for (int i = 0; i < 200; ++i) CHECK(b.next_delay_ms() <= 0xFFFFFFF0u);
}

TEST_CASE("xorshift never sticks at zero") {
    XorShift32 r(0);
    CHECK(r() != 0u);
}

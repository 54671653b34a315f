// Safe mode, connectivity reboot, time sources, retries and warm-up (carbontrack/supervisor.h).
#include <doctest/doctest.h>

#include <cmath>

#include "carbontrack/supervisor.h"

using namespace carbontrack;

TEST_CASE("boot guard: three boots that die early -> safe mode; a healthy run clears the count") {
    MemoryStorage mem(BootGuard::kStorageBytes);
    for (int boot = 1; boot <= 3; ++boot) {
        BootGuard g(mem);
        CHECK_FALSE(g.on_boot());  // crashes before 10 min each time
        g.tick(60 * 1000);
    }
    BootGuard fourth(mem);
    CHECK(fourth.on_boot());  // safe mode: network + OTA only
    CHECK(fourth.failed_boots() == 3);
    fourth.tick(10 * 60 * 1000);  // ran 10 min in safe mode (e.g. got a fixed image)
    BootGuard fifth(mem);
    CHECK_FALSE(fifth.on_boot());
    CHECK(fifth.failed_boots() == 0);
    size_t writes = mem.writes();
    fifth.tick(11 * 60 * 1000);
    fifth.tick(12 * 60 * 1000);
    CHECK(mem.writes() == writes + 1);  // cleared once, not every loop
}

TEST_CASE("boot guard: a torn record reads as zero failed boots, never as safe mode by accident") {
    MemoryStorage mem(BootGuard::kStorageBytes);
    mem.bytes()[4] = 9;  // garbage without magic/CRC
    BootGuard g(mem);
    CHECK_FALSE(g.on_boot());
    CHECK(g.failed_boots() == 0);
}

TEST_CASE("connectivity watchdog reboots after 15 min without the broker, not before") {
    ConnectivityWatchdog w;
    CHECK_FALSE(w.should_reboot(0, false));
    CHECK_FALSE(w.should_reboot(14 * 60 * 1000 + 59999, false));
    CHECK(w.should_reboot(15 * 60 * 1000, false));
    ConnectivityWatchdog v;
    CHECK_FALSE(v.should_reboot(0, true));
    CHECK_FALSE(v.should_reboot(10 * 60 * 1000, true));
    CHECK_FALSE(v.should_reboot(24 * 60 * 1000, false));  // 14 min since last connected
    CHECK(v.should_reboot(25 * 60 * 1000, false));
}

TEST_CASE("time: NTP wins; the server's ack time is the fallback after 5 min without NTP") {
    TimeKeeper t;
    CHECK_FALSE(t.known());
    CHECK(std::isnan(t.now(1000)));
    CHECK_FALSE(t.server_time(1764331260.5, 60 * 1000));  // too early: NTP may still answer
    CHECK(t.server_time(1764331260.5, 5 * 60 * 1000));
    CHECK(t.source() == TimeKeeper::Source::Server);
    CHECK(t.now(5 * 60 * 1000 + 1500) == doctest::Approx(1764331262.0));
    t.ntp_synced(1764331300.0, 6 * 60 * 1000);
    CHECK(t.source() == TimeKeeper::Source::Ntp);
    CHECK_FALSE(t.server_time(1764331999.0, 7 * 60 * 1000));  // NTP is not overridden
    CHECK(t.now(7 * 60 * 1000) == doctest::Approx(1764331360.0));
    CHECK_FALSE(TimeKeeper().server_time(1000.0, 10 * 60 * 1000));  // 1970: not a clock
}

TEST_CASE("ntp servers: up to three from the setting, defaults fill in") {
    auto s = ntp_servers(" ntp.ktda.local , ,pool.ntp.org");
    REQUIRE(s.size() == 3);
    CHECK(s[0] == "ntp.ktda.local");
    CHECK(s[1] == "pool.ntp.org");
    CHECK(s[2] == "time.google.com");
    CHECK(ntp_servers("").size() == 3);
    CHECK(ntp_servers("a,b,c,d").back() == "c");
}

TEST_CASE("retry timer: retried until it works, then refreshed; warm-up window") {
    RetryTimer abc(10 * 60 * 1000, 24ull * 3600 * 1000);
    CHECK(abc.due(0));
    abc.result(false, 0);
    CHECK_FALSE(abc.due(9 * 60 * 1000));
    CHECK(abc.due(10 * 60 * 1000));
    abc.result(true, 10 * 60 * 1000);
    CHECK(abc.succeeded());
    CHECK(abc.failures() == 1);
    CHECK_FALSE(abc.due(20 * 60 * 1000));
    CHECK(abc.due(10 * 60 * 1000 + 24ull * 3600 * 1000));
    RetryTimer once(1000, 0);
    once.result(true, 5);
    CHECK_FALSE(once.due(1u << 30));

    Warmup w(180 * 1000);
    CHECK(w.warming(0));  // not powered yet
    w.powered(1000);
    CHECK(w.warming(180 * 1000));
    CHECK_FALSE(w.warming(181 * 1000));
    CHECK(explorir_multiplier_plausible(10));
    CHECK(explorir_multiplier_plausible(100));
    CHECK_FALSE(explorir_multiplier_plausible(1));
    CHECK_FALSE(explorir_multiplier_plausible(0));
}

#include <doctest/doctest.h>

#include "carbontrack/ota_guard.h"

using namespace carbontrack;

TEST_CASE("normal boots when no update is pending") {
    MemoryStorage mem(OtaGuard::kStorageBytes);
    OtaGuard g(mem);
    CHECK(g.on_boot() == OtaGuard::BootAction::Normal);
}

TEST_CASE("a new image that confirms stays") {
    MemoryStorage mem(OtaGuard::kStorageBytes);
    {
        OtaGuard g(mem);
        g.on_boot();
        REQUIRE(g.on_update_installed());
    }
    OtaGuard g(mem);
    CHECK(g.on_boot() == OtaGuard::BootAction::Trial);
    CHECK(g.confirm());
    OtaGuard later(mem);
    CHECK(later.on_boot() == OtaGuard::BootAction::Normal);
}

TEST_CASE("a new image that never confirms is rolled back after max attempts") {
    MemoryStorage mem(OtaGuard::kStorageBytes);
    {
        OtaGuard g(mem, 3);
        REQUIRE(g.on_update_installed());
    }
    for (int boot = 1; boot <= 3; ++boot) {
        OtaGuard g(mem, 3);
        CHECK(g.on_boot() == OtaGuard::BootAction::Trial);
        CHECK(g.attempts() == boot);
    }
    OtaGuard g(mem, 3);
    CHECK(g.on_boot() == OtaGuard::BootAction::RollBack);
    g.clear();
    OtaGuard after(mem, 3);
    CHECK(after.on_boot() == OtaGuard::BootAction::Normal);
}

TEST_CASE("corrupt guard storage reads as no pending update") {
    MemoryStorage mem(OtaGuard::kStorageBytes);
    OtaGuard g(mem);
    g.on_update_installed();
    mem.bytes()[5] ^= 0xFF;
    OtaGuard again(mem);
    CHECK(again.on_boot() == OtaGuard::BootAction::Normal);
}

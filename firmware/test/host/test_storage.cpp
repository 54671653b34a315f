#include <doctest/doctest.h>

#include "carbontrack/storage.h"

using namespace carbontrack;

TEST_CASE("crc32 matches the IEEE check value") {
    CHECK(crc32("123456789", 9) == 0xCBF43926u);
}

TEST_CASE("memory storage bounds and failure injection") {
    MemoryStorage s(16);
    uint8_t b[4] = {1, 2, 3, 4};
    CHECK(s.write(12, b, 4));
    CHECK_FALSE(s.write(13, b, 4));
    CHECK_FALSE(s.read(20, b, 1));
    s.fail_next_writes(1);
    CHECK_FALSE(s.write(0, b, 4));
    CHECK(s.write(0, b, 4));
    uint8_t r[4];
    CHECK(s.read(0, r, 4));
    CHECK(r[3] == 4);
}

TEST_CASE("little-endian helpers round-trip") {
    uint8_t b[8];
    le::put_u64(b, 0x0102030405060708ull);
    CHECK(b[0] == 0x08);
    CHECK(le::get_u64(b) == 0x0102030405060708ull);
    le::put_f64(b, -186.4);
    CHECK(le::get_f64(b) == -186.4);
    le::put_u32(b, 0xDEADBEEF);
    CHECK(le::get_u32(b) == 0xDEADBEEF);
    le::put_u16(b, 0xBEEF);
    CHECK(le::get_u16(b) == 0xBEEF);
}

#include <doctest/doctest.h>

#include <vector>

#include "carbontrack/sensor_protocols.h"

using namespace carbontrack::proto;

TEST_CASE("Sensirion CRC-8 datasheet example: 0xBEEF → 0x92") {
    uint8_t d[2] = {0xBE, 0xEF};
    CHECK(sensirion_crc8(d, 2) == 0x92);
}

TEST_CASE("SDP8xx frame decoding") {
    // Δp raw 3000 / scale 60 = 50 Pa; temperature raw 5000 / 200 = 25 °C.
    uint8_t f[9] = {0x0B, 0xB8, 0, 0x13, 0x88, 0, 0x00, 0x3C, 0};
    f[2] = sensirion_crc8(f, 2);
    f[5] = sensirion_crc8(f + 3, 2);
    f[8] = sensirion_crc8(f + 6, 2);
    SdpMeasurement m;
    REQUIRE(decode_sdp(f, m));
    CHECK(m.dp_pa == doctest::Approx(50.0));
    CHECK(m.temp_c == doctest::Approx(25.0));
    // negative Δp: raw −120 / 60 = −2 Pa
    f[0] = 0xFF;
    f[1] = 0x88;
    f[2] = sensirion_crc8(f, 2);
    REQUIRE(decode_sdp(f, m));
    CHECK(m.dp_pa == doctest::Approx(-2.0));
    f[4] ^= 1;  // corrupt temperature word
    CHECK_FALSE(decode_sdp(f, m));
}

TEST_CASE("Modbus CRC and frames (Senseair)") {
    // Well-known Senseair request: FE 04 00 03 00 01 D5 C5 (read CO2, IR4)
    std::vector<uint8_t> req = modbus_read_input(kSenseairAnyAddress, kSenseairIrCo2, 1);
    CHECK(req == std::vector<uint8_t>{0xFE, 0x04, 0x00, 0x03, 0x00, 0x01, 0xD5, 0xC5});
    // Response FE 04 02 <hi> <lo> CRC
    std::vector<uint8_t> resp = {0xFE, 0x04, 0x02, 0x01, 0x90};
    uint16_t crc = modbus_crc16(resp.data(), resp.size());
    resp.push_back(static_cast<uint8_t>(crc));
    resp.push_back(static_cast<uint8_t>(crc >> 8));
    std::vector<uint16_t> regs;
    REQUIRE(modbus_parse_read(resp.data(), resp.size(), 1, regs));
    CHECK(regs[0] == 400);
    resp[4] ^= 1;
    CHECK_FALSE(modbus_parse_read(resp.data(), resp.size(), 1, regs));
    std::vector<uint8_t> exc = {0xFE, 0x84, 0x02, 0, 0};
    CHECK_FALSE(modbus_parse_read(exc.data(), exc.size(), 1, regs));

    std::vector<uint8_t> w = modbus_write_single(kSenseairAnyAddress, kSenseairHrAbcPeriod, 0);
    CHECK(w.size() == 8);
    CHECK(w[1] == 0x06);
    CHECK(modbus_write_echo_ok(w, w.data(), w.size()));
    std::vector<uint8_t> bad = w;
    bad[5] = 1;
    CHECK_FALSE(modbus_write_echo_ok(w, bad.data(), bad.size()));
}

TEST_CASE("GSS ExplorIR-W ASCII replies") {
    long v = 0;
    CHECK(gss_parse(" Z 08450\r\n", 'Z', v));
    CHECK(v == 8450);
    CHECK(gss_parse(" Z 08450 z 08460\r\n", 'Z', v));
    CHECK(v == 8450);
    CHECK(gss_parse(" . 00010\r\n", '.', v));
    CHECK(v == 10);
    CHECK_FALSE(gss_parse(" z 08450\r\n", 'Z', v));
    CHECK_FALSE(gss_parse(" Z \r\n", 'Z', v));
    CHECK_FALSE(gss_parse("", 'Z', v));
    CHECK_FALSE(gss_parse(" Z 99999999999\r\n", 'Z', v));
}

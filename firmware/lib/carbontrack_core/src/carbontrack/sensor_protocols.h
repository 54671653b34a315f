// Wire formats of the sensors, kept here so they are tested on the host; the drivers in
// firmware/src only move bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace carbontrack::proto {

// ---- Sensirion SDP8xx (I2C): 3 words (Δp, temperature, scale factor), each + CRC-8 ----
constexpr uint8_t kSdpAddress = 0x25;                // SDP810 / SDP8x0 default
constexpr uint16_t kSdpStartDpAveraged = 0x3615;     // continuous Δp, average till read
constexpr uint16_t kSdpStop = 0x3FF9;

// CRC-8, polynomial 0x31, init 0xFF (Sensirion).
uint8_t sensirion_crc8(const uint8_t* data, size_t len);

struct SdpMeasurement {
    double dp_pa = 0.0;
    double temp_c = 0.0;
};

// Decode the 9 bytes of a read; false on a CRC error or a zero scale factor.
bool decode_sdp(const uint8_t frame[9], SdpMeasurement& out);

// ---- Senseair K-series / K33 ELG (Modbus RTU over UART, 9600 8N1) ----
constexpr uint8_t kSenseairAnyAddress = 0xFE;  // "any sensor" on a point-to-point line
constexpr uint16_t kSenseairIrCo2 = 0x0003;    // IR4: CO2 (scaled per model, see docs/firmware.md)
constexpr uint16_t kSenseairHrAbcPeriod = 0x001F;  // HR32: ABC period in hours, 0 = off

uint16_t modbus_crc16(const uint8_t* data, size_t len);
// 8-byte request frames with CRC.
std::vector<uint8_t> modbus_read_input(uint8_t address, uint16_t reg, uint16_t count);
std::vector<uint8_t> modbus_write_single(uint8_t address, uint16_t reg, uint16_t value);
// Parse a function-0x04 response carrying `count` registers; false on CRC/length/exception.
bool modbus_parse_read(const uint8_t* frame, size_t len, uint16_t count, std::vector<uint16_t>& regs);
// A function-0x06 response echoes the request: true when it matches exactly.
bool modbus_write_echo_ok(const std::vector<uint8_t>& request, const uint8_t* frame, size_t len);

// ---- GSS ExplorIR-W (ASCII over UART, 9600 8N1, lines end in \r\n) ----
// Requests: "K 2\r\n" polling mode, "Z\r\n" filtered CO2, ".\r\n" ppm multiplier,
// "@ 0\r\n" auto-zero (ABC) off, "U\r\n" zero in nitrogen, "X nnnnn\r\n" zero at a known level.
// Parse a reply " Z 01234" (leading space optional): the field letter must be `field`.
bool gss_parse(std::string_view line, char field, long& value);

}  // namespace carbontrack::proto

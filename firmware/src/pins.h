// ESP32 DevKit (ESP32-WROOM-32) pin map; the table with wire colours is in docs/firmware.md.
#pragma once

#include <cstdint>

namespace pins {
// I2C bus: SDP810 differential pressure (0x25), optional BMP280 absolute pressure (0x76).
constexpr int kI2cSda = 21;
constexpr int kI2cScl = 22;
constexpr uint32_t kI2cHz = 100000;  // 100 kHz: robust over the ~1 m cable to the pitot box
// VSPI: MAX31855 thermocouple amplifier (read-only: no MOSI).
constexpr int kSpiSck = 18;
constexpr int kSpiMiso = 19;
constexpr int kTcCs = 5;
// UART2: NDIR CO2 sensor (ExplorIR-W or Senseair K33 ELG), 9600 8N1, 3.3 V logic.
constexpr int kCo2Rx = 16;  // ESP32 RX  ← sensor TX
constexpr int kCo2Tx = 17;  // ESP32 TX  → sensor RX
// Status LED (on-board): on = connected, slow blink = offline (buffering), fast blink = not configured.
constexpr int kLed = 2;
}  // namespace pins

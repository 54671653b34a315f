#include "sensors.h"

#include <cmath>
#include <cstdio>

#include "carbontrack/sensor_protocols.h"
#include "pins.h"

using namespace carbontrack;

namespace {
constexpr uint32_t kUartTimeoutMs = 300;

// Read one "\n"-terminated line (without it) or time out.
size_t read_line(HardwareSerial& port, char* buf, size_t cap) {
    size_t n = 0;
    uint32_t start = millis();
    while (millis() - start < kUartTimeoutMs) {
        while (port.available()) {
            char c = static_cast<char>(port.read());
            if (c == '\n') {
                buf[n] = '\0';
                return n;
            }
            if (n + 1 < cap) buf[n++] = c;
        }
        delay(2);
    }
    buf[n] = '\0';
    return 0;
}
}  // namespace

// ---- CO2 ---------------------------------------------------------------------------------

bool Co2Sensor::begin() {
    port_.begin(9600, SERIAL_8N1, pins::kCo2Rx, pins::kCo2Tx);
    delay(100);
    if (model_ == Model::ExplorIrW) {
        long mode = 0;
        gss_command("K 2\r\n", 'K', mode);  // polling mode: the sensor answers only when asked
        read_multiplier();
    }
    return abc_off();
}

bool Co2Sensor::read_multiplier() {
    if (model_ == Model::SenseairK33) return true;
    long mult = 0;
    if (!gss_command(".\r\n", '.', mult) || !carbontrack::explorir_multiplier_plausible(static_cast<int>(mult)))
        return false;
    multiplier_ = mult;
    multiplier_known_ = true;
    return true;
}

bool Co2Sensor::abc_off() {
    if (model_ == Model::ExplorIrW) {
        long v = 0;
        return gss_command("@ 0\r\n", '@', v);  // auto-zero (ABC) off
    }
    std::vector<uint8_t> req = proto::modbus_write_single(proto::kSenseairAnyAddress, proto::kSenseairHrAbcPeriod, 0);
    uint8_t reply[8];
    return modbus(req, reply, sizeof reply) && proto::modbus_write_echo_ok(req, reply, sizeof reply);
}

double Co2Sensor::read_ppm() {
    if (model_ == Model::ExplorIrW) {
        long counts = 0;
        if (!gss_command("Z\r\n", 'Z', counts)) return NAN;
        return static_cast<double>(counts) * static_cast<double>(multiplier_);
    }
    std::vector<uint8_t> req = proto::modbus_read_input(proto::kSenseairAnyAddress, proto::kSenseairIrCo2, 1);
    uint8_t reply[7];
    std::vector<uint16_t> regs;
    if (!modbus(req, reply, sizeof reply) || !proto::modbus_parse_read(reply, sizeof reply, 1, regs)) return NAN;
    // High-range variants report scaled counts (see docs/firmware.md, "CO2 scaling").
    return static_cast<double>(regs[0]) * ppm_per_count_;
}

bool Co2Sensor::calibrate_zero() {
    long v = 0;
    if (model_ == Model::ExplorIrW) return gss_command("U\r\n", 'U', v);  // zero in nitrogen
    // Senseair: HR1 = 0 clears the acknowledgement, HR2 = 0x7C07 "zero calibration" (N2).
    uint8_t reply[8];
    auto clear = proto::modbus_write_single(proto::kSenseairAnyAddress, 0x0000, 0);
    auto zero = proto::modbus_write_single(proto::kSenseairAnyAddress, 0x0001, 0x7C07);
    return modbus(clear, reply, sizeof reply) && modbus(zero, reply, sizeof reply) &&
           proto::modbus_write_echo_ok(zero, reply, sizeof reply);
}

bool Co2Sensor::calibrate_span(double ppm) {
    if (model_ != Model::ExplorIrW || !(ppm > 0)) return false;
    char cmd[24];
    std::snprintf(cmd, sizeof cmd, "X %ld\r\n", static_cast<long>(std::lround(ppm / multiplier_)));
    long v = 0;
    return gss_command(cmd, 'X', v);
}

bool Co2Sensor::gss_command(const char* cmd, char field, long& value) {
    while (port_.available()) port_.read();  // drop stale bytes
    port_.print(cmd);
    char line[48];
    if (read_line(port_, line, sizeof line) == 0) return false;
    return proto::gss_parse(line, field, value);
}

bool Co2Sensor::modbus(const std::vector<uint8_t>& request, uint8_t* reply, size_t reply_len) {
    while (port_.available()) port_.read();
    port_.write(request.data(), request.size());
    size_t n = 0;
    uint32_t start = millis();
    while (n < reply_len && millis() - start < kUartTimeoutMs) {
        if (port_.available()) reply[n++] = static_cast<uint8_t>(port_.read());
        else delay(2);
    }
    return n == reply_len;
}

// ---- differential pressure ---------------------------------------------------------------

bool DpSensor::begin(TwoWire& wire) {
    wire_ = &wire;
    wire_->beginTransmission(proto::kSdpAddress);
    wire_->write(static_cast<uint8_t>(proto::kSdpStop >> 8));
    wire_->write(static_cast<uint8_t>(proto::kSdpStop & 0xFF));
    wire_->endTransmission();
    delay(2);
    wire_->beginTransmission(proto::kSdpAddress);
    wire_->write(static_cast<uint8_t>(proto::kSdpStartDpAveraged >> 8));
    wire_->write(static_cast<uint8_t>(proto::kSdpStartDpAveraged & 0xFF));
    bool ok = wire_->endTransmission() == 0;
    delay(25);  // first measurement after start
    return ok;
}

double DpSensor::read_pa() {
    if (!wire_) return NAN;
    uint8_t frame[9];
    if (wire_->requestFrom(static_cast<int>(proto::kSdpAddress), 9) != 9) return NAN;
    for (uint8_t& b : frame) b = static_cast<uint8_t>(wire_->read());
    proto::SdpMeasurement m;
    return proto::decode_sdp(frame, m) ? m.dp_pa : NAN;
}

// ---- all channels --------------------------------------------------------------------------

Sensors::Sensors(HardwareSerial& co2_port, Co2Sensor::Model model, double co2_ppm_per_count, int tc_cs)
    : co2_(co2_port, model, co2_ppm_per_count), tc_(tc_cs), bmp_(&Wire) {}

void Sensors::begin(uint64_t mono_ms) {
    Wire.begin(pins::kI2cSda, pins::kI2cScl, pins::kI2cHz);
    warmup_.powered(mono_ms);  // the sensors are powered with the ESP32
    bool ok = co2_.begin();
    abc_.result(ok, mono_ms);  // retried by maintain() until acknowledged
    range_.result(co2_.scale_known(), mono_ms);
    if (!ok) log_e("CO2 sensor: no answer or ABC-off not acknowledged (retried every 10 min)");
    tc_.begin();  // returns void in older library versions: check with a first read instead
    if (std::isnan(tc_.readCelsius())) log_e("MAX31855: no reading (fault 0x%02x)", tc_.readError());
    if (!dp_.begin(Wire)) log_e("SDP8xx not found on I2C 0x%02x", proto::kSdpAddress);
    bmp_ok_ = bmp_.begin(0x76) || bmp_.begin(0x77);
    if (bmp_ok_) {
        bmp_.setSampling(Adafruit_BMP280::MODE_NORMAL, Adafruit_BMP280::SAMPLING_X1, Adafruit_BMP280::SAMPLING_X16,
                         Adafruit_BMP280::FILTER_X4, Adafruit_BMP280::STANDBY_MS_500);
    }
}

void Sensors::maintain(uint64_t mono_ms) {
    if (abc_.due(mono_ms)) {
        bool ok = co2_.abc_off();
        abc_.result(ok, mono_ms);
        if (!ok) log_w("CO2 ABC-off not acknowledged (attempt %u)", static_cast<unsigned>(abc_.failures()));
    }
    if (range_.due(mono_ms)) range_.result(co2_.read_multiplier(), mono_ms);
}

Sample Sensors::read(uint64_t mono_ms) {
    Sample s;
    s.co2_ppm = co2_.read_ppm();
    s.flue_temp_c = tc_.readCelsius();  // NaN on open/short thermocouple
    tc_fault_ = std::isnan(s.flue_temp_c) ? tc_.readError() : 0;
    if (tc_fault_ != 0 || !co2_.scale_known()) s.flags = static_cast<uint16_t>(s.flags | carbontrack::kFlagSensorFault);
    if (warmup_.warming(mono_ms)) s.flags = static_cast<uint16_t>(s.flags | carbontrack::kFlagWarmup);
    s.dp_pa = dp_.read_pa();
    // The BMP280 in the enclosure reads barometric pressure; the stack's static pressure
    // differs by the draught (tens to a few hundred Pa, < 0.5 %), far closer than an altitude guess.
    s.pressure_pa = bmp_ok_ ? static_cast<double>(bmp_.readPressure()) : NAN;
    return s;
}

// Sensor drivers: they move bytes; decoding, CRCs and the maths live in the tested core.
#pragma once

#include <Adafruit_BMP280.h>
#include <Adafruit_MAX31855.h>
#include <HardwareSerial.h>
#include <Wire.h>

#include <vector>

#include "carbontrack/sampling.h"
#include "carbontrack/supervisor.h"

// High-range NDIR CO2 on UART2. Two supported models, chosen by the NVS key "co2_model".
class Co2Sensor {
  public:
    enum class Model { ExplorIrW, SenseairK33 };
    // `ppm_per_count`: Senseair register scaling of the fitted variant (NVS "co2_scale");
    // the ExplorIR-W reports its own multiplier.
    Co2Sensor(HardwareSerial& port, Model model, double ppm_per_count)
        : port_(port), model_(model), ppm_per_count_(ppm_per_count) {}
    // Open the UART, put the sensor in polling mode and switch automatic baseline calibration
    // OFF: ABC assumes fresh air (~400 ppm) now and then, which a chimney never sees.
    bool begin();
    // CO2 in ppm, NaN when the sensor did not answer correctly.
    double read_ppm();
    bool abc_off();
    // ExplorIR-W: read the ppm multiplier ("."); only 10 or 100 are believed (a sensor still
    // booting answers otherwise). The K33 has no multiplier: always true.
    bool read_multiplier();
    // False while the ExplorIR multiplier has not been read: readings are flagged SENSOR_FAULT
    // (a 0-100 % part read with the default 10 would be 10x low and still in range).
    bool scale_known() const { return model_ == Model::SenseairK33 || multiplier_known_; }
    // Zero with nitrogen at the probe; span with certified gas of `ppm` (Senseair: zero only
    // in the field, span is done by Senseair's calibration tool; see docs/firmware.md).
    bool calibrate_zero();
    bool calibrate_span(double ppm);

  private:
    HardwareSerial& port_;
    Model model_;
    double ppm_per_count_;
    long multiplier_ = 10;  // ExplorIR-W: ppm per count, read with the "." command
    bool multiplier_known_ = false;

    bool gss_command(const char* cmd, char field, long& value);
    bool modbus(const std::vector<uint8_t>& request, uint8_t* reply, size_t reply_len);
};

// Sensirion SDP810-500Pa on I2C: continuous Δp measurement with averaging.
class DpSensor {
  public:
    bool begin(TwoWire& wire);
    double read_pa();  // NaN on I2C or CRC error

  private:
    TwoWire* wire_ = nullptr;
};

class Sensors {
  public:
    Sensors(HardwareSerial& co2_port, Co2Sensor::Model model, double co2_ppm_per_count, int tc_cs);
    void begin(uint64_t mono_ms);
    // One sample of every channel; failed reads are NaN (counted as missing by the core);
    // flags: SENSOR_FAULT (thermocouple fault code, CO2 scale unknown), WARMUP (NDIR warm-up).
    carbontrack::Sample read(uint64_t mono_ms);
    // Retry ABC-off and the ExplorIR range read until they work, and repeat them daily.
    void maintain(uint64_t mono_ms);
    Co2Sensor& co2() { return co2_; }
    bool has_pressure_sensor() const { return bmp_ok_; }
    uint8_t thermocouple_fault() const { return tc_fault_; }

  private:
    Co2Sensor co2_;
    Adafruit_MAX31855 tc_;
    DpSensor dp_;
    Adafruit_BMP280 bmp_;
    bool bmp_ok_ = false;
    uint8_t tc_fault_ = 0;
    // NDIR sensors need minutes to reach specification after power-up (GSS: ~3 min to full
    // accuracy; Senseair K33: < 3 min): readings before that are flagged WARMUP.
    carbontrack::Warmup warmup_{180 * 1000};
    carbontrack::RetryTimer abc_{10 * 60 * 1000, 24ull * 3600 * 1000};
    carbontrack::RetryTimer range_{60 * 1000, 24ull * 3600 * 1000};
};

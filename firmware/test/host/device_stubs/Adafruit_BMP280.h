#pragma once
#include "Wire.h"
class Adafruit_BMP280 {
  public:
    enum sensor_mode { MODE_SLEEP, MODE_FORCED, MODE_NORMAL };
    enum sensor_sampling { SAMPLING_NONE, SAMPLING_X1, SAMPLING_X2, SAMPLING_X4, SAMPLING_X8, SAMPLING_X16 };
    enum sensor_filter { FILTER_OFF, FILTER_X2, FILTER_X4, FILTER_X8, FILTER_X16 };
    enum standby_duration { STANDBY_MS_1, STANDBY_MS_63, STANDBY_MS_125, STANDBY_MS_250, STANDBY_MS_500 };
    Adafruit_BMP280(TwoWire* theWire = &Wire);
    bool begin(uint8_t addr = 0x77, uint8_t chipid = 0x58);
    float readPressure();
    void setSampling(sensor_mode mode = MODE_NORMAL, sensor_sampling tempSampling = SAMPLING_X16,
                     sensor_sampling pressSampling = SAMPLING_X16, sensor_filter filter = FILTER_OFF,
                     standby_duration duration = STANDBY_MS_1);
};

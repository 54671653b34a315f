#pragma once
#include "Arduino.h"
class TwoWire : public Stream {
  public:
    bool begin(int sda = -1, int scl = -1, uint32_t frequency = 0);
    void beginTransmission(uint16_t address);
    size_t write(uint8_t b) override;
    uint8_t endTransmission(bool sendStop = true);
    uint8_t requestFrom(uint16_t address, uint8_t size, bool sendStop = true);
    uint8_t requestFrom(int address, int size);
    int read() override;
};
extern TwoWire Wire;

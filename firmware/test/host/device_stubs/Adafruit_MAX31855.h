#pragma once
#include "Arduino.h"
#include "SPI.h"
#define MAX31855_FAULT_OPEN (0x01)
class Adafruit_MAX31855 {
  public:
    Adafruit_MAX31855(int8_t cs, SPIClass* spi = &SPI);
    bool begin();
    double readCelsius();
    uint8_t readError();
};

#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>  // the real core pulls in POSIX names too (e.g. link())

#include "esp_system.h"

typedef bool boolean;
#define HIGH 0x1
#define LOW 0x0
#define OUTPUT 0x03
#define SERIAL_8N1 0x800001c

uint32_t millis();
void delay(uint32_t ms);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);
void configTzTime(const char* tz, const char* server1, const char* server2 = nullptr, const char* server3 = nullptr);

void stub_log(const char* format, ...) __attribute__((format(printf, 1, 2)));
#define log_e(...) stub_log(__VA_ARGS__)
#define log_w(...) stub_log(__VA_ARGS__)
#define log_i(...) stub_log(__VA_ARGS__)

class String {
  public:
    String(const char* s = "");
    const char* c_str() const;
    double toDouble() const;
    unsigned int length() const;
    bool operator==(const char* other) const;
};

class Print {
  public:
    virtual ~Print() = default;
    size_t print(const char* s);
    size_t println(const char* s = "");
    size_t printf(const char* format, ...) __attribute__((format(printf, 2, 3)));
    virtual size_t write(uint8_t b);
    virtual size_t write(const uint8_t* buffer, size_t size);
};

class Stream : public Print {
  public:
    virtual int available();
    virtual int read();
    size_t readBytes(uint8_t* buffer, size_t length);
};

class HardwareSerial : public Stream {
  public:
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rxPin = -1, int8_t txPin = -1);
};
extern HardwareSerial Serial;
extern HardwareSerial Serial2;

class EspClass {
  public:
    void restart();
};
extern EspClass ESP;

#pragma once
#include "Arduino.h"
class Client : public Stream {
  public:
    virtual int connect(const char* host, uint16_t port);
    virtual uint8_t connected();
    virtual void stop();
};

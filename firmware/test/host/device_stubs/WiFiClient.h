#pragma once
#include "Client.h"
class WiFiClient : public Client {
  public:
    int available() override;
    uint8_t connected() override;
};

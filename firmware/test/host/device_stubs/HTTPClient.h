#pragma once
#include "WiFiClient.h"
#define HTTP_CODE_OK 200
class HTTPClient {
  public:
    bool begin(WiFiClient& client, String url);
    void setTimeout(uint16_t timeout);
    int GET();
    int getSize();
    WiFiClient* getStreamPtr();
    bool connected();
    void end();
};

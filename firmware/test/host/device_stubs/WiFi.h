#pragma once
#include "Arduino.h"
#include "WiFiClient.h"
typedef enum { WIFI_OFF, WIFI_STA } wifi_mode_t;
typedef enum { WL_IDLE_STATUS, WL_CONNECTED = 3, WL_DISCONNECTED = 6 } wl_status_t;
class WiFiClass {
  public:
    bool mode(wifi_mode_t m);
    bool setAutoReconnect(bool autoReconnect);
    wl_status_t begin(const char* ssid, const char* passphrase = nullptr);
    static wl_status_t status();
    int8_t RSSI();
};
extern WiFiClass WiFi;

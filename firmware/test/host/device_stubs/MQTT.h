#pragma once
#include "Client.h"
typedef enum { LWMQTT_SUCCESS = 0 } lwmqtt_err_t;
typedef enum { LWMQTT_CONNECTION_ACCEPTED = 0 } lwmqtt_return_code_t;
class MQTTClient;
typedef void (*MQTTClientCallbackAdvanced)(MQTTClient* client, char topic[], char bytes[], int length);
class MQTTClient {
  public:
    explicit MQTTClient(int bufSize = 128);
    MQTTClient(int readBufSize, int writeBufSize);
    void begin(const char hostname[], int port, Client& client);
    void onMessageAdvanced(MQTTClientCallbackAdvanced cb);
    void setWill(const char topic[], const char payload[], bool retained, int qos);
    void setKeepAlive(int keepAlive);
    void setCleanSession(bool cleanSession);
    void setTimeout(int timeout);
    bool connect(const char clientId[], const char username[], const char password[], bool skip = false);
    bool publish(const char topic[], const char payload[], bool retained, int qos);
    bool publish(const char topic[], const char payload[], int length, bool retained, int qos);
    bool subscribe(const char topic[], int qos);
    bool loop();
    bool connected();
    lwmqtt_err_t lastError();
    lwmqtt_return_code_t returnCode();
};

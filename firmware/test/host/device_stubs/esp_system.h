#pragma once
#include <cstdint>
typedef int esp_err_t;
#define ESP_OK 0
void esp_restart();
uint32_t esp_random();

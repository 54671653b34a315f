#pragma once
#include "esp_system.h"
typedef void* TaskHandle_t;
esp_err_t esp_task_wdt_init(uint32_t timeout, bool panic);
esp_err_t esp_task_wdt_add(TaskHandle_t handle);
esp_err_t esp_task_wdt_reset();

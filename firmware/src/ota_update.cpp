#include "ota_update.h"

#include <Arduino.h>
#include <HTTPClient.h>
#include <Update.h>
#include <WiFiClientSecure.h>
#include <esp_ota_ops.h>
#include <esp_system.h>
#include <esp_task_wdt.h>
#include <mbedtls/sha256.h>

#include <cstdio>

// Arduino-ESP32 confirms a new image right at boot unless this returns true; we confirm it
// ourselves once the node has reached the broker (ota::confirm).
extern "C" bool verifyRollbackLater() { return true; }

namespace ota {

namespace {
std::string to_hex(const uint8_t* d, size_t n) {
    std::string s;
    char b[3];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "%02x", d[i]);
        s += b;
    }
    return s;
}
}  // namespace

bool install(const std::string& url, const std::string& sha256_hex, const std::string& ca_pem, std::string& error) {
    WiFiClientSecure tls;
    tls.setCACert(ca_pem.c_str());
    HTTPClient http;
    if (!http.begin(tls, url.c_str())) {
        error = "bad URL";
        return false;
    }
    http.setTimeout(15000);
    int code = http.GET();
    if (code != HTTP_CODE_OK) {
        error = "HTTP " + std::to_string(code);
        http.end();
        return false;
    }
    int total = http.getSize();
    if (!Update.begin(total > 0 ? static_cast<size_t>(total) : UPDATE_SIZE_UNKNOWN, U_FLASH)) {
        error = std::string("no room for update: ") + Update.errorString();
        http.end();
        return false;
    }
    mbedtls_sha256_context sha;
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    WiFiClient* stream = http.getStreamPtr();
    uint8_t buf[2048];
    size_t written = 0;
    uint32_t last_data = millis();
    while (http.connected() && (total <= 0 || written < static_cast<size_t>(total))) {
        esp_task_wdt_reset();
        size_t avail = stream->available();
        if (avail == 0) {
            if (millis() - last_data > 20000) break;
            delay(5);
            continue;
        }
        int n = stream->readBytes(buf, std::min(avail, sizeof buf));
        if (n <= 0) continue;
        last_data = millis();
        mbedtls_sha256_update_ret(&sha, buf, static_cast<size_t>(n));
        if (Update.write(buf, static_cast<size_t>(n)) != static_cast<size_t>(n)) {
            error = std::string("flash write: ") + Update.errorString();
            break;
        }
        written += static_cast<size_t>(n);
    }
    http.end();
    uint8_t digest[32];
    mbedtls_sha256_finish_ret(&sha, digest);
    mbedtls_sha256_free(&sha);
    if (error.empty() && total > 0 && written != static_cast<size_t>(total)) error = "download incomplete";
    if (error.empty() && to_hex(digest, sizeof digest) != sha256_hex) error = "SHA-256 mismatch";
    if (!error.empty()) {
        Update.abort();
        return false;
    }
    if (!Update.end(true)) {  // validates the image and sets it as the boot partition
        error = std::string("image rejected: ") + Update.errorString();
        return false;
    }
    return true;
}

void handle_boot(carbontrack::OtaGuard& guard) {
    switch (guard.on_boot()) {
        case carbontrack::OtaGuard::BootAction::Normal:
            break;
        case carbontrack::OtaGuard::BootAction::Trial:
            log_w("running an unconfirmed update (attempt %u)", guard.attempts());
            break;
        case carbontrack::OtaGuard::BootAction::RollBack: {
            log_e("update never confirmed: rolling back to the previous image");
            guard.clear();
            // With bootloader rollback enabled this marks the image invalid and reboots into the
            // previous one; otherwise switch the boot partition ourselves.
            esp_ota_mark_app_invalid_rollback_and_reboot();
            const esp_partition_t* previous = esp_ota_get_next_update_partition(nullptr);
            if (previous != nullptr && esp_ota_set_boot_partition(previous) == ESP_OK) esp_restart();
            log_e("rollback impossible: no previous image; staying on this one");
            break;
        }
    }
}

void confirm(carbontrack::OtaGuard& guard) {
    if (!guard.pending()) return;
    esp_ota_mark_app_valid_cancel_rollback();
    guard.confirm();
    log_i("update confirmed");
}

}  // namespace ota

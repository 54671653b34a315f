// Over-the-air update: HTTPS download (CA-verified), SHA-256 checked while streaming into the
// inactive OTA slot, boot switched only when the hash matches; the new image must confirm
// itself (carbontrack::OtaGuard) or the previous one is booted again.
#pragma once

#include <string>

#include "carbontrack/ota_guard.h"

namespace ota {

// Download `url`, verify `sha256_hex`, install into the other slot. Returns false with a
// reason (nothing changed); on success the caller reboots.
bool install(const std::string& url, const std::string& sha256_hex, const std::string& ca_pem, std::string& error);

// Boot-time handling of a pending update: roll back when the guard says so.
void handle_boot(carbontrack::OtaGuard& guard);

// The running image works: confirm it to ESP-IDF (cancels the bootloader rollback when that is
// enabled) and to the guard.
void confirm(carbontrack::OtaGuard& guard);

}  // namespace ota

// Boot confirmation for over-the-air updates, independent of bootloader support.
//
// After an update the new image must *confirm* itself (it connected to the broker and
// published) within `max_attempts` boots; otherwise the device layer switches the boot
// partition back to the previous image. Persisted in a small Storage region (an NVS blob).
// Works together with ESP-IDF's own rollback (esp_ota_mark_app_valid_cancel_rollback) when the
// bootloader has CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE, and on its own when it does not.
#pragma once

#include <cstdint>

#include "carbontrack/storage.h"

namespace carbontrack {

class OtaGuard {
  public:
    static constexpr size_t kStorageBytes = 16;
    enum class BootAction { Normal, Trial, RollBack };

    OtaGuard(Storage& storage, uint8_t max_attempts = 3) : storage_(storage), max_attempts_(max_attempts) {}

    // Call once at boot: Normal (confirmed image), Trial (unconfirmed image, attempt counted) or
    // RollBack (the new image failed to confirm too often: boot the previous one).
    BootAction on_boot();
    // A new image was written and set as boot partition; it starts unconfirmed.
    bool on_update_installed();
    // The running image works (connected + published): stop counting.
    bool confirm();
    // The device layer rolled back: forget the trial.
    bool clear() { return confirm(); }

    bool pending() const { return pending_; }
    uint8_t attempts() const { return attempts_; }

  private:
    Storage& storage_;
    uint8_t max_attempts_;
    bool pending_ = false;
    uint8_t attempts_ = 0;

    bool load();
    bool save();
};

}  // namespace carbontrack

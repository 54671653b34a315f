#include "carbontrack/ota_guard.h"

namespace carbontrack {

namespace {
constexpr uint32_t kMagic = 0x4154474F;  // "OGTA"
}

bool OtaGuard::load() {
    uint8_t b[kStorageBytes];
    pending_ = false;
    attempts_ = 0;
    if (!storage_.read(0, b, sizeof b)) return false;
    if (le::get_u32(b) != kMagic || le::get_u32(b + 8) != crc32(b, 8)) return false;
    pending_ = b[4] != 0;
    attempts_ = b[5];
    return true;
}

bool OtaGuard::save() {
    uint8_t b[kStorageBytes] = {};
    le::put_u32(b, kMagic);
    b[4] = pending_ ? 1 : 0;
    b[5] = attempts_;
    le::put_u32(b + 8, crc32(b, 8));
    return storage_.write(0, b, sizeof b);
}

OtaGuard::BootAction OtaGuard::on_boot() {
    load();
    if (!pending_) return BootAction::Normal;
    if (attempts_ >= max_attempts_) return BootAction::RollBack;
    ++attempts_;
    save();
    return BootAction::Trial;
}

bool OtaGuard::on_update_installed() {
    pending_ = true;
    attempts_ = 0;
    return save();
}

bool OtaGuard::confirm() {
    if (!pending_ && attempts_ == 0) return true;
    pending_ = false;
    attempts_ = 0;
    return save();
}

}  // namespace carbontrack

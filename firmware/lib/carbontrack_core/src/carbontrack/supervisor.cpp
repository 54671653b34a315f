#include "carbontrack/supervisor.h"

#include <cmath>

namespace carbontrack {

namespace {
constexpr uint32_t kMagic = 0x53424754;  // "TGBS"
}

bool BootGuard::save(uint8_t failed) {
    uint8_t b[kStorageBytes] = {};
    le::put_u32(b, kMagic);
    b[4] = failed;
    le::put_u32(b + 12, crc32(b, 12));
    bool ok = storage_.write(0, b, sizeof b);
    if (!ok) ++storage_errors_;
    return ok;
}

bool BootGuard::on_boot() {
    uint8_t b[kStorageBytes];
    failed_ = 0;
    if (storage_.read(0, b, sizeof b) && le::get_u32(b) == kMagic && le::get_u32(b + 12) == crc32(b, 12)) failed_ = b[4];
    safe_mode_ = failed_ >= max_failed_;
    // Count this boot as failed until tick() sees it healthy. In safe mode keep the count (it
    // stays in safe mode until a healthy safe-mode run clears it, e.g. after an OTA fix).
    uint8_t next = failed_ < 255 ? static_cast<uint8_t>(failed_ + 1) : failed_;
    save(next);
    return safe_mode_;
}

void BootGuard::tick(uint64_t mono_ms) {
    if (cleared_ || mono_ms < healthy_after_ms_) return;
    cleared_ = save(0) || cleared_;
    if (!cleared_) cleared_ = storage_errors_ > 3;  // give up retrying a broken store
}

bool ConnectivityWatchdog::should_reboot(uint64_t mono_ms, bool connected) {
    if (!started_ || connected) {
        started_ = true;
        last_ok_ms_ = mono_ms;
        return false;
    }
    return mono_ms - last_ok_ms_ >= timeout_ms_;
}

void TimeKeeper::ntp_synced(double wall_s, uint64_t mono_ms) {
    source_ = Source::Ntp;
    wall_minus_mono_s_ = wall_s - static_cast<double>(mono_ms) / 1000.0;
}

bool TimeKeeper::server_time(double wall_s, uint64_t mono_ms, uint64_t ntp_started_ms) {
    if (source_ == Source::Ntp) return false;
    if (!std::isfinite(wall_s) || wall_s < 1704067200.0) return false;  // before 2024: not a clock
    if (source_ == Source::None && mono_ms - ntp_started_ms < fallback_after_ms_) return false;
    source_ = Source::Server;
    wall_minus_mono_s_ = wall_s - static_cast<double>(mono_ms) / 1000.0;
    return true;
}

double TimeKeeper::now(uint64_t mono_ms) const {
    if (source_ == Source::None) return NAN;
    return static_cast<double>(mono_ms) / 1000.0 + wall_minus_mono_s_;
}

std::vector<std::string> ntp_servers(const std::string& setting) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= setting.size() && out.size() < 3) {
        size_t comma = setting.find(',', start);
        std::string item = setting.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
        if (a != std::string::npos) item = item.substr(a, b - a + 1);
        else item.clear();
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    for (const char* d : {"pool.ntp.org", "time.google.com", "time.cloudflare.com"}) {
        if (out.size() >= 3) break;
        bool have = false;
        for (const auto& s : out) have = have || s == d;
        if (!have) out.emplace_back(d);
    }
    return out;
}

void RetryTimer::result(bool ok, uint64_t mono_ms) {
    if (ok) {
        succeeded_ = true;
        if (refresh_ms_ == 0) done_forever_ = true;
        next_ms_ = mono_ms + refresh_ms_;
    } else {
        ++failures_;
        next_ms_ = mono_ms + retry_ms_;
    }
}

bool explorir_multiplier_plausible(int multiplier) { return multiplier == 10 || multiplier == 100; }

}  // namespace carbontrack

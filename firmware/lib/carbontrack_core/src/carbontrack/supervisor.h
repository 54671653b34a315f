// Host-testable state machines that keep the node alive in the field (docs/firmware.md
// "Failure modes"). Each takes the monotonic time in ms from its caller; none touches hardware.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "carbontrack/storage.h"

namespace carbontrack {

// Safe mode after repeated failed boots. A boot counts as failed until the node has run
// `healthy_after_ms`; after `max_failed` failed boots in a row the next boot is a safe-mode boot
// (only Wi-Fi, MQTT status/commands and OTA run: no sensors, no flash log), so a firmware or
// sensor fault that crashes the node leaves it reachable for a fix. Persisted in two CRC'd
// slots (an NVS blob on the device); written twice per boot at most.
class BootGuard {
  public:
    static constexpr size_t kStorageBytes = 16;
    BootGuard(Storage& storage, uint8_t max_failed = 3, uint64_t healthy_after_ms = 10ull * 60 * 1000)
        : storage_(storage), max_failed_(max_failed), healthy_after_ms_(healthy_after_ms) {}

    // Call first at boot. Returns true for a safe-mode boot.
    bool on_boot();
    // Call every loop: once the node has run long enough the failed-boot count is cleared.
    void tick(uint64_t mono_ms);
    bool safe_mode() const { return safe_mode_; }
    uint8_t failed_boots() const { return failed_; }
    uint32_t storage_errors() const { return storage_errors_; }

  private:
    Storage& storage_;
    uint8_t max_failed_;
    uint64_t healthy_after_ms_;
    uint8_t failed_ = 0;
    bool safe_mode_ = false;
    bool cleared_ = false;
    uint32_t storage_errors_ = 0;
    bool save(uint8_t failed);
};

// Reboot when the node has been unable to reach the broker for `timeout_ms` (ESPHome's
// reboot_timeout, 15 min): a wedged Wi-Fi/TLS stack is cleared by a restart, a real outage only
// costs one reboot per period (readings are in flash).
class ConnectivityWatchdog {
  public:
    explicit ConnectivityWatchdog(uint64_t timeout_ms = 15ull * 60 * 1000) : timeout_ms_(timeout_ms) {}
    // Call every loop with whether the broker connection is up; true = reboot now.
    bool should_reboot(uint64_t mono_ms, bool connected);

  private:
    uint64_t timeout_ms_;
    uint64_t last_ok_ms_ = 0;
    bool started_ = false;
};

// The node's wall clock: NTP first (several servers), the server's time from a live ack (not a
// retained one: that can be hours old) when NTP has not answered for `fallback_after_ms`.
class TimeKeeper {
  public:
    enum class Source { None, Ntp, Server };
    explicit TimeKeeper(uint64_t fallback_after_ms = 5ull * 60 * 1000) : fallback_after_ms_(fallback_after_ms) {}

    // NTP set the clock to `wall_s` at `mono_ms`.
    void ntp_synced(double wall_s, uint64_t mono_ms);
    // An NTP attempt failed (counted for the status message).
    void ntp_failed() { ++ntp_failures_; }
    // A live (non-retained) ack carried the server's time. Used when NTP is not synced and has
    // had its chance; returns true when it set the clock.
    bool server_time(double wall_s, uint64_t mono_ms, uint64_t boot_mono_ms_ntp_started = 0);

    bool known() const { return source_ != Source::None; }
    Source source() const { return source_; }
    double now(uint64_t mono_ms) const;  // NaN while unknown
    uint32_t ntp_failures() const { return ntp_failures_; }

  private:
    uint64_t fallback_after_ms_;
    Source source_ = Source::None;
    double wall_minus_mono_s_ = 0.0;
    uint32_t ntp_failures_ = 0;
};

// NTP servers from the `ntp` key: up to three, comma-separated ("ntp.ktda.local,pool.ntp.org");
// empty entries are skipped; defaults fill up to three so there is always a fallback.
std::vector<std::string> ntp_servers(const std::string& setting);

// Something to retry until it succeeds, then to repeat now and then (ABC off, the ExplorIR
// range multiplier): due() at start, after a failure every `retry_ms`, after a success every
// `refresh_ms` (0 = never again).
class RetryTimer {
  public:
    RetryTimer(uint64_t retry_ms, uint64_t refresh_ms) : retry_ms_(retry_ms), refresh_ms_(refresh_ms) {}
    bool due(uint64_t mono_ms) const { return !done_forever_ && mono_ms >= next_ms_; }
    void result(bool ok, uint64_t mono_ms);
    bool succeeded() const { return succeeded_; }
    uint32_t failures() const { return failures_; }

  private:
    uint64_t retry_ms_, refresh_ms_;
    uint64_t next_ms_ = 0;
    bool succeeded_ = false;
    bool done_forever_ = false;
    uint32_t failures_ = 0;
};

// NDIR warm-up: readings in the first `warmup_ms` after the sensor was powered are flagged WARMUP.
class Warmup {
  public:
    explicit Warmup(uint64_t warmup_ms) : warmup_ms_(warmup_ms) {}
    void powered(uint64_t mono_ms) { start_ms_ = mono_ms, started_ = true; }
    bool warming(uint64_t mono_ms) const { return !started_ || mono_ms - start_ms_ < warmup_ms_; }

  private:
    uint64_t warmup_ms_;
    uint64_t start_ms_ = 0;
    bool started_ = false;
};

// ExplorIR-W range: the "." reply gives the multiplier (10 or 100 for the 20 %/100 % parts);
// a sensor still booting answers 1 or nothing. Plausible multipliers only.
bool explorir_multiplier_plausible(int multiplier);

}  // namespace carbontrack

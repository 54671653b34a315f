// Reconnect backoff: exponential, capped, with jitter so 67 nodes that lost the same broker do
// not reconnect in lockstep. delay = e/2 + rand[0, e/2], e = min(cap, base·2^attempt).
#pragma once

#include <cstdint>
#include <functional>

namespace carbontrack {

// Small deterministic PRNG (xorshift32) for the device; seed it from esp_random().
class XorShift32 {
  public:
    explicit XorShift32(uint32_t seed) : state_(seed ? seed : 0x9E3779B9u) {}
    uint32_t operator()() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return state_;
    }

  private:
    uint32_t state_;
};

class Backoff {
  public:
    using Rng = std::function<uint32_t()>;
    Backoff(uint32_t base_ms, uint32_t cap_ms, Rng rng) : base_ms_(base_ms), cap_ms_(cap_ms), rng_(std::move(rng)) {}

    // Delay before the next attempt; each call counts one more failed attempt.
    uint32_t next_delay_ms();
    // Connected: start again from the base delay.
    void reset() { attempt_ = 0; }
    uint32_t attempts() const { return attempt_; }
    // The un-jittered ceiling for the current attempt.
    uint32_t ceiling_ms() const;

  private:
    uint32_t base_ms_;
    uint32_t cap_ms_;
    Rng rng_;
    uint32_t attempt_ = 0;
};

}  // namespace carbontrack

#include "carbontrack/backoff.h"

#include <algorithm>

namespace carbontrack {

uint32_t Backoff::ceiling_ms() const {
    uint64_t e = base_ms_;
    for (uint32_t i = 0; i < attempt_ && e < cap_ms_; ++i) e *= 2;  // no overflow: stops at cap
    return static_cast<uint32_t>(std::min<uint64_t>(e, cap_ms_));
}

uint32_t Backoff::next_delay_ms() {
    uint32_t e = ceiling_ms();
    if (attempt_ < 64) ++attempt_;
    uint32_t half = e / 2;
    uint32_t jitter = rng_ ? rng_() % (e - half + 1) : 0;
    return half + jitter;
}

}  // namespace carbontrack

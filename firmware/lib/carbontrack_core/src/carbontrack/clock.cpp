#include "carbontrack/clock.h"

namespace carbontrack {

void PendingStamps::hold(const Reading& r, uint64_t mono_ms) {
    if (capacity_ == 0) {
        ++dropped_;
        return;
    }
    if (held_.size() == capacity_) {
        held_.pop_front();
        ++dropped_;
    }
    held_.push_back({r, mono_ms});
}

size_t PendingStamps::release(double wall_now_s, uint64_t mono_now_ms, const std::function<void(const Reading&)>& sink) {
    size_t n = 0;
    while (!held_.empty()) {
        Held h = held_.front();
        held_.pop_front();
        h.reading.ts = stamp_time(wall_now_s, mono_now_ms, h.mono_ms);
        sink(h.reading);
        ++n;
    }
    return n;
}

}  // namespace carbontrack

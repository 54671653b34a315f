// The store-and-forward queue the uplink drains: oldest reading first, removed only by pop().
// Two implementations: FlashLog (append-only segment files, the device) and ReadingBuffer (a
// fixed ring over byte-addressed Storage, kept for NVS-sized buffers and the older tests).
#pragma once

#include <cstddef>
#include <cstdint>

#include "carbontrack/payload.h"

namespace carbontrack {

enum class ReadStatus {
    Ok,        // `out` holds the reading
    Corrupt,   // the record failed its CRC or cannot be dated: skip it (counted by the queue)
    NotReady,  // taken before the clock was known in this boot: wait (head-of-line)
};

class ReadingQueue {
  public:
    virtual ~ReadingQueue() = default;
    virtual size_t size() const = 0;
    // The i-th oldest reading (0 = oldest).
    virtual ReadStatus read(size_t i, Reading& out) = 0;
    // Remove the `n` oldest readings. False on a storage error (the readings may come again).
    virtual bool pop(size_t n) = 0;
    // Readings lost because the queue was full (or its storage was), since boot.
    virtual uint32_t dropped() const = 0;
    // Readings that left the front since boot (popped or dropped): with it a position counted
    // from the front can be kept as an absolute index while the front moves.
    virtual uint64_t removed() const = 0;
    // Append a dated reading; false on a storage error.
    virtual bool push(const Reading& r) = 0;
    // Append a reading taken before the clock was known, stamped with the monotonic time of
    // this boot. Queues that cannot keep such readings return false and the caller holds them.
    virtual bool push_undated(const Reading& r, uint64_t mono_ms) {
        (void)r;
        (void)mono_ms;
        return false;
    }
    virtual bool keeps_undated() const { return false; }
    // The clock became known: wall time = mono_ms / 1000 + wall_minus_mono_s in this boot.
    virtual void set_clock(double wall_minus_mono_s) { (void)wall_minus_mono_s; }
    bool empty() const { return size() == 0; }
};

}  // namespace carbontrack

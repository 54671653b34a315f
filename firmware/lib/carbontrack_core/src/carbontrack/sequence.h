// Per-device sequence counter kept across reboots.
//
// Write-amortised: the storage holds a "reserved up to" mark; numbers below it may have been
// used. At boot the counter continues at the mark (skipping at most one block of unused numbers,
// never reusing one) and each time a block is used up the mark moves one block ahead. With a
// block of 64 and one reading a minute, flash is written about every hour instead of every
// minute. Two CRC'd slots are written alternately so a torn write keeps the older mark.
#pragma once

#include <cstdint>

#include "carbontrack/storage.h"

namespace carbontrack {

class SequenceCounter {
  public:
    static constexpr size_t kSlotBytes = 16;
    static constexpr size_t kStorageBytes = 2 * kSlotBytes;

    SequenceCounter(Storage& storage, uint32_t block = 64) : storage_(storage), block_(block ? block : 1) {}

    // Load the mark and reserve the first block. False if storage is missing or unwritable.
    bool begin();
    // The next sequence number (first one ever is 1). Reserves a new block when needed;
    // if that write fails the number is still returned and persist_errors() counts it.
    uint64_t next();
    uint64_t peek() const { return next_; }
    uint32_t persist_errors() const { return persist_errors_; }

  private:
    Storage& storage_;
    uint32_t block_;
    uint64_t next_ = 1;
    uint64_t reserved_ = 0;  // numbers < reserved_ are covered by the persisted mark
    int slot_ = 0;
    uint32_t persist_errors_ = 0;

    bool reserve(uint64_t mark);
};

}  // namespace carbontrack

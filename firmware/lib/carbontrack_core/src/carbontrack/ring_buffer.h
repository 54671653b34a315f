// Store-and-forward buffer of readings on persistent storage.
//
// Layout: two 32-byte header slots (written alternately, the valid one with the higher
// generation wins, so a power cut while writing a header loses at most the last change),
// then `capacity` fixed 56-byte records, each with its own CRC. Fixed capacity; when full the
// oldest reading is overwritten and counted in dropped(). Readings are removed only by pop(),
// which the uplink calls after the broker acknowledged the publish.
#pragma once

#include <cstddef>
#include <cstdint>

#include "carbontrack/payload.h"
#include "carbontrack/reading_queue.h"
#include "carbontrack/storage.h"

namespace carbontrack {

class ReadingBuffer : public ReadingQueue {
  public:
    static constexpr size_t kHeaderBytes = 32;
    static constexpr size_t kRecordBytes = 56;

    // Bytes of storage needed for `capacity` readings, and the capacity that fits in `bytes`.
    static constexpr size_t required_bytes(uint32_t capacity) { return 2 * kHeaderBytes + size_t{capacity} * kRecordBytes; }
    static constexpr uint32_t capacity_for(size_t bytes) {
        return bytes < 2 * kHeaderBytes ? 0 : static_cast<uint32_t>((bytes - 2 * kHeaderBytes) / kRecordBytes);
    }

    ReadingBuffer(Storage& storage, uint32_t capacity) : storage_(storage), capacity_(capacity) {}

    // Load the persisted state or format an empty buffer (also when the capacity changed).
    // False when the storage is too small or cannot be written.
    bool begin();

    // Append a reading; when full, the oldest is dropped first. False on storage error.
    bool push(const Reading& r) override;
    // The i-th oldest reading (0 = oldest). False if i is out of range or the record is corrupt.
    bool at(size_t i, Reading& out) const;
    // Remove the `n` oldest readings (after the broker acknowledged them).
    bool pop(size_t n) override;
    ReadStatus read(size_t i, Reading& out) override { return at(i, out) ? ReadStatus::Ok : ReadStatus::Corrupt; }

    size_t size() const override { return count_; }
    uint32_t capacity() const { return capacity_; }
    uint32_t dropped() const override { return dropped_; }  // overwritten because the buffer was full
    uint64_t removed() const override { return removed_; }
    bool formatted_on_begin() const { return formatted_; }

  private:
    Storage& storage_;
    uint32_t capacity_;
    uint32_t head_ = 0;  // slot of the oldest reading
    uint32_t count_ = 0;
    uint32_t dropped_ = 0;
    uint64_t removed_ = 0;
    uint32_t generation_ = 0;
    bool formatted_ = false;

    bool write_header();
    bool load_header(int slot, uint32_t& head, uint32_t& count, uint32_t& dropped, uint32_t& generation) const;
    size_t record_offset(uint32_t slot) const { return 2 * kHeaderBytes + size_t{slot} * kRecordBytes; }
};

}  // namespace carbontrack

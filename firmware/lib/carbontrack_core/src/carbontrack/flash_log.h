// Append-only flash log of readings in segment files (docs/firmware.md "Flash log").
//
// Why: littlefs copies a file from the write position to its end on every sync, so a big file
// overwritten in place costs tens of block erases per reading and fails with NOSPC once the file
// is over half the free space. Appending fixed 48-byte records to small files and deleting whole
// files costs about one block erase per reading, whatever the capacity.
//
// Layout: segment files numbered upwards, each at most `records_per_segment` records; a record
// carries its own CRC-32 and the reading's seq. Nothing else is written: no header, no cursor.
// At boot the segments are listed and scanned: the valid records in id order are the queue.
// A segment that ends in a torn or corrupt record is sealed (never appended to again).
// Removing readings (server ack) advances a RAM cursor; a segment is deleted once every record
// in it is removed, so after a reboot at most one segment's worth of acknowledged readings is
// sent again (the server ignores repeated seqs). Capacity is counted in records: when full, the
// oldest record is dropped (counted), and the storage holds at most capacity + one segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "carbontrack/reading_queue.h"

namespace carbontrack {

// The file operations the log needs; the device and the host tests use LfsSegmentFs (littlefs),
// MemorySegmentFs is for fast unit tests. Negative results are littlefs-style error codes.
class SegmentFs {
  public:
    static constexpr int kErrNoSpace = -28;  // LFS_ERR_NOSPC
    virtual ~SegmentFs() = default;
    // Ids of the existing segments, ascending. 0 or a negative error.
    virtual int list(std::vector<uint32_t>& ids) = 0;
    // Size of segment `id` in bytes, or a negative error.
    virtual int size(uint32_t id) = 0;
    // Read `len` bytes at `offset`; the number of bytes read or a negative error.
    virtual int read(uint32_t id, uint32_t offset, void* dst, uint32_t len) = 0;
    // Append `len` bytes (creating the segment), durable on return (synced). 0 or a negative error.
    virtual int append(uint32_t id, const void* src, uint32_t len) = 0;
    // Delete segment `id`. 0 or a negative error.
    virtual int remove(uint32_t id) = 0;
};

// One record in the log: a reading and, when it was taken before the clock was known, the
// boot it was taken in and its monotonic time.
struct LogRecord {
    Reading reading;
    bool dated = true;
    uint32_t boot_id = 0;
    uint64_t mono_ms = 0;
};

namespace logrec {
constexpr uint32_t kBytes = 48;
// Fixed-point fields (values are already rounded to these steps by round_for_publish):
// CO2 0.1 ppm, temperature 0.01 °C, velocity 0.001 m/s, pressure 0.1 Pa, Δp 0.01 Pa, ts 1 ms.
void encode(const LogRecord& rec, uint8_t* out);
bool decode(const uint8_t* in, LogRecord& out);
}  // namespace logrec

class FlashLog : public ReadingQueue {
  public:
    // 80 × 48 B = 3,840 B: one segment fills one 4 KiB littlefs block.
    static constexpr uint32_t kDefaultRecordsPerSegment = 80;

    FlashLog(SegmentFs& fs, uint32_t capacity, uint32_t boot_id, uint32_t records_per_segment = kDefaultRecordsPerSegment);

    // Scan the segments and rebuild the queue. False only when the segments cannot be listed.
    bool begin();

    bool append(const LogRecord& rec);

    // ReadingQueue
    size_t size() const override { return count_; }
    ReadStatus read(size_t i, Reading& out) override;
    bool pop(size_t n) override;
    uint32_t dropped() const override { return dropped_; }
    uint64_t removed() const override { return removed_; }
    bool push(const Reading& r) override;
    bool push_undated(const Reading& r, uint64_t mono_ms) override;
    bool keeps_undated() const override { return true; }
    void set_clock(double wall_minus_mono_s) override;

    // Remove readings from the front while their seq is <= `ack_seq` (corrupt records among
    // them too). Returns how many were removed.
    size_t acknowledge(uint64_t ack_seq);

    uint32_t capacity() const { return capacity_; }
    uint32_t storage_errors() const { return storage_errors_; }
    // Counted when the log is scanned at boot: records that failed their CRC, and records taken
    // before the clock was known in an earlier boot (no time base left; sent never, dropped).
    uint32_t corrupt() const { return corrupt_; }
    uint32_t undatable() const { return undatable_; }
    size_t segments() const { return segs_.size(); }

  private:
    struct Segment {
        uint32_t id;
        uint32_t slots;  // records in the file (valid or corrupt)
        bool sealed;     // torn tail or write error: no more appends
    };
    SegmentFs& fs_;
    uint32_t capacity_;
    uint32_t boot_id_;
    uint32_t per_segment_;
    std::vector<Segment> segs_;  // oldest first
    uint32_t head_ = 0;          // records of segs_[0] already removed
    size_t count_ = 0;
    uint32_t next_id_ = 0;
    bool clock_known_ = false;
    double wall_minus_mono_s_ = 0.0;
    uint32_t dropped_ = 0, storage_errors_ = 0, corrupt_ = 0, undatable_ = 0;
    uint64_t removed_ = 0;

    bool locate(size_t i, uint32_t& id, uint32_t& slot) const;
    void drop_front(size_t n);
    void delete_consumed();
    bool evict_oldest_segment();
};

// RAM segments for unit tests, with failure injection.
class MemorySegmentFs : public SegmentFs {
  public:
    int list(std::vector<uint32_t>& ids) override;
    int size(uint32_t id) override;
    int read(uint32_t id, uint32_t offset, void* dst, uint32_t len) override;
    int append(uint32_t id, const void* src, uint32_t len) override;
    int remove(uint32_t id) override;

    void fail_next_appends(int n, int error = kErrNoSpace) { fail_appends_ = n, fail_error_ = error; }
    std::vector<uint8_t>* segment(uint32_t id);

  private:
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> segs_;
    int fail_appends_ = 0;
    int fail_error_ = kErrNoSpace;
};

}  // namespace carbontrack

// The flash log's segments as files on littlefs: /log/<8 hex digits>. Used on the device (our
// own lfs_t on the `littlefs` partition, src/device_storage.cpp) and by the host tests (the same
// littlefs sources on a RAM block device with the partition's geometry), so the access pattern
// the tests measure is the device's.
#pragma once

#include <cstdint>
#include <vector>

#include "carbontrack/flash_log.h"
#include "lfs.h"

namespace carbontrack {

// Geometry and tuning of the node's littlefs (partitions.csv: 0xE0000 bytes = 224 blocks of
// 4 KiB; read/prog 128 B, cache 512 B, lookahead 128 B, block_cycles 512 as esp_littlefs sets
// them by default).
struct LfsGeometry {
    static constexpr uint32_t kBlockSize = 4096;
    static constexpr uint32_t kBlockCount = 0xE0000 / kBlockSize;  // 224
    static constexpr uint32_t kReadSize = 128;
    static constexpr uint32_t kProgSize = 128;
    static constexpr uint32_t kCacheSize = 512;
    static constexpr uint32_t kLookaheadSize = 128;
    static constexpr int32_t kBlockCycles = 512;
};

// Statically allocated buffers for one mounted littlefs (no heap after mount).
struct LfsBuffers {
    alignas(4) uint8_t read[LfsGeometry::kCacheSize];
    alignas(4) uint8_t prog[LfsGeometry::kCacheSize];
    alignas(4) uint8_t lookahead[LfsGeometry::kLookaheadSize];
};

// Fill `cfg` with the node's geometry and `bufs`; the caller sets context/read/prog/erase/sync.
void lfs_node_config(lfs_config& cfg, LfsBuffers& bufs, uint32_t block_count = LfsGeometry::kBlockCount);

// Mount, formatting first when the partition holds no littlefs. Returns the littlefs error.
int lfs_mount_or_format(lfs_t& lfs, const lfs_config& cfg);

class LfsSegmentFs : public SegmentFs {
  public:
    explicit LfsSegmentFs(lfs_t& lfs, const char* dir = "/log") : lfs_(lfs), dir_(dir) {}
    ~LfsSegmentFs() override { close_reader(); }
    LfsSegmentFs(const LfsSegmentFs&) = delete;
    LfsSegmentFs& operator=(const LfsSegmentFs&) = delete;

    int list(std::vector<uint32_t>& ids) override;
    int size(uint32_t id) override;
    int read(uint32_t id, uint32_t offset, void* dst, uint32_t len) override;
    int append(uint32_t id, const void* src, uint32_t len) override;
    int remove(uint32_t id) override;

  private:
    lfs_t& lfs_;
    const char* dir_;
    // One cached read handle (flushes read many records of the same segment in a row).
    lfs_file_t reader_{};
    lfs_file_config reader_cfg_{};
    alignas(4) uint8_t reader_buf_[LfsGeometry::kCacheSize];
    uint32_t reader_id_ = 0;
    bool reader_open_ = false;
    lfs_file_config writer_cfg_{};
    alignas(4) uint8_t writer_buf_[LfsGeometry::kCacheSize];
    bool dir_ready_ = false;

    void path(uint32_t id, char* out) const;
    int ensure_dir();
    void close_reader();
};

}  // namespace carbontrack

// A RAM block device for littlefs with NOR-flash semantics (program only clears bits, erase sets
// 0xFF), per-block erase counters and power-cut injection: after a set number of program/erase
// operations the current one is torn (a random prefix lands) and every later operation fails, as
// when the supply drops. A "reboot" mounts a new lfs_t on the same bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "carbontrack/lfs_segment_fs.h"
#include "lfs.h"

class RamFlash {
  public:
    explicit RamFlash(uint32_t block_count = carbontrack::LfsGeometry::kBlockCount)
        : bytes_(size_t{block_count} * carbontrack::LfsGeometry::kBlockSize, 0xFF), erases_(block_count, 0) {
        carbontrack::lfs_node_config(cfg_, bufs_, block_count);
        cfg_.context = this;
        cfg_.read = &RamFlash::read;
        cfg_.prog = &RamFlash::prog;
        cfg_.erase = &RamFlash::erase;
        cfg_.sync = &RamFlash::sync;
    }

    const lfs_config& config() const { return cfg_; }
    // Mount a fresh lfs_t (format when blank), as the node does at boot. Returns the lfs error.
    int mount(lfs_t& lfs) { return carbontrack::lfs_mount_or_format(lfs, cfg_); }

    // Power fails during the n-th program/erase from now (1 = the next one). 0 disables.
    void cut_power_after(uint64_t n, uint32_t rng_seed) {
        cut_at_ = n ? ops_ + n : 0;
        rng_.seed(rng_seed);
    }
    bool power_lost() const { return power_lost_; }
    void restore_power() {
        power_lost_ = false;
        cut_at_ = 0;
    }

    uint64_t total_erases() const {
        uint64_t t = 0;
        for (auto e : erases_) t += e;
        return t;
    }
    uint32_t max_block_erases() const {
        uint32_t m = 0;
        for (auto e : erases_) m = e > m ? e : m;
        return m;
    }
    const std::vector<uint32_t>& erases() const { return erases_; }
    uint64_t ops() const { return ops_; }
    // The raw flash, for dumping an image or loading one made elsewhere (littlefs-python).
    std::vector<uint8_t>& bytes() { return bytes_; }

  private:
    std::vector<uint8_t> bytes_;
    std::vector<uint32_t> erases_;
    lfs_config cfg_{};
    carbontrack::LfsBuffers bufs_{};
    uint64_t ops_ = 0;
    uint64_t cut_at_ = 0;
    bool power_lost_ = false;
    std::mt19937 rng_{1};

    static RamFlash& self(const lfs_config* c) { return *static_cast<RamFlash*>(c->context); }
    size_t at(lfs_block_t block, lfs_off_t off) const { return size_t{block} * cfg_.block_size + off; }

    // True when this operation is the one the power cut tears.
    bool tick() {
        ++ops_;
        if (cut_at_ && ops_ >= cut_at_) {
            power_lost_ = true;
            cut_at_ = 0;
            return true;
        }
        return false;
    }

    static int read(const lfs_config* c, lfs_block_t block, lfs_off_t off, void* buffer, lfs_size_t size) {
        RamFlash& f = self(c);
        if (f.power_lost_) return LFS_ERR_IO;
        std::memcpy(buffer, f.bytes_.data() + f.at(block, off), size);
        return 0;
    }
    static int prog(const lfs_config* c, lfs_block_t block, lfs_off_t off, const void* buffer, lfs_size_t size) {
        RamFlash& f = self(c);
        if (f.power_lost_) return LFS_ERR_IO;
        lfs_size_t n = size;
        bool torn = f.tick();
        if (torn) n = static_cast<lfs_size_t>(f.rng_() % size);  // a random prefix lands
        const auto* src = static_cast<const uint8_t*>(buffer);
        uint8_t* dst = f.bytes_.data() + f.at(block, off);
        for (lfs_size_t i = 0; i < n; ++i) dst[i] &= src[i];  // NOR: programming only clears bits
        return torn ? LFS_ERR_IO : 0;
    }
    static int erase(const lfs_config* c, lfs_block_t block) {
        RamFlash& f = self(c);
        if (f.power_lost_) return LFS_ERR_IO;
        bool torn = f.tick();
        uint8_t* dst = f.bytes_.data() + f.at(block, 0);
        size_t n = torn ? f.rng_() % c->block_size : c->block_size;
        std::memset(dst, 0xFF, n);  // a torn erase leaves the rest of the block as it was
        ++f.erases_[block];
        return torn ? LFS_ERR_IO : 0;
    }
    static int sync(const lfs_config* c) { return self(c).power_lost_ ? LFS_ERR_IO : 0; }
};

#include "carbontrack/lfs_segment_fs.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace carbontrack {

void lfs_node_config(lfs_config& cfg, LfsBuffers& bufs, uint32_t block_count) {
    cfg.read_size = LfsGeometry::kReadSize;
    cfg.prog_size = LfsGeometry::kProgSize;
    cfg.block_size = LfsGeometry::kBlockSize;
    cfg.block_count = block_count;
    cfg.block_cycles = LfsGeometry::kBlockCycles;
    cfg.cache_size = LfsGeometry::kCacheSize;
    cfg.lookahead_size = LfsGeometry::kLookaheadSize;
    cfg.read_buffer = bufs.read;
    cfg.prog_buffer = bufs.prog;
    cfg.lookahead_buffer = bufs.lookahead;
}

int lfs_mount_or_format(lfs_t& lfs, const lfs_config& cfg) {
    int rc = lfs_mount(&lfs, &cfg);
    if (rc == 0) return 0;
    rc = lfs_format(&lfs, &cfg);
    if (rc != 0) return rc;
    return lfs_mount(&lfs, &cfg);
}

void LfsSegmentFs::path(uint32_t id, char* out) const {
    std::snprintf(out, 48, "%s/%08" PRIx32, dir_, id);
}

int LfsSegmentFs::ensure_dir() {
    if (dir_ready_) return 0;
    int rc = lfs_mkdir(&lfs_, dir_);
    if (rc != 0 && rc != LFS_ERR_EXIST) return rc;
    dir_ready_ = true;
    return 0;
}

void LfsSegmentFs::close_reader() {
    if (reader_open_) lfs_file_close(&lfs_, &reader_);
    reader_open_ = false;
}

int LfsSegmentFs::list(std::vector<uint32_t>& ids) {
    ids.clear();
    int rc = ensure_dir();
    if (rc != 0) return rc;
    lfs_dir_t dir;
    rc = lfs_dir_open(&lfs_, &dir, dir_);
    if (rc != 0) return rc;
    lfs_info info;
    while ((rc = lfs_dir_read(&lfs_, &dir, &info)) > 0) {
        if (info.type != LFS_TYPE_REG || std::strlen(info.name) != 8) continue;
        char* end = nullptr;
        unsigned long id = std::strtoul(info.name, &end, 16);
        if (end && *end == '\0') ids.push_back(static_cast<uint32_t>(id));
    }
    lfs_dir_close(&lfs_, &dir);
    return rc < 0 ? rc : 0;
}

int LfsSegmentFs::size(uint32_t id) {
    char p[48];
    path(id, p);
    lfs_info info;
    int rc = lfs_stat(&lfs_, p, &info);
    return rc < 0 ? rc : static_cast<int>(info.size);
}

int LfsSegmentFs::read(uint32_t id, uint32_t offset, void* dst, uint32_t len) {
    if (!reader_open_ || reader_id_ != id) {
        close_reader();
        char p[48];
        path(id, p);
        reader_cfg_ = lfs_file_config{};
        reader_cfg_.buffer = reader_buf_;
        int rc = lfs_file_opencfg(&lfs_, &reader_, p, LFS_O_RDONLY, &reader_cfg_);
        if (rc < 0) return rc;
        reader_open_ = true;
        reader_id_ = id;
    }
    lfs_soff_t pos = lfs_file_seek(&lfs_, &reader_, static_cast<lfs_soff_t>(offset), LFS_SEEK_SET);
    if (pos < 0) return static_cast<int>(pos);
    return static_cast<int>(lfs_file_read(&lfs_, &reader_, dst, len));
}

int LfsSegmentFs::append(uint32_t id, const void* src, uint32_t len) {
    if (reader_open_ && reader_id_ == id) close_reader();
    int rc = ensure_dir();
    if (rc != 0) return rc;
    char p[48];
    path(id, p);
    lfs_file_t f;
    writer_cfg_ = lfs_file_config{};
    writer_cfg_.buffer = writer_buf_;
    rc = lfs_file_opencfg(&lfs_, &f, p, LFS_O_WRONLY | LFS_O_CREAT | LFS_O_APPEND, &writer_cfg_);
    if (rc < 0) return rc;
    lfs_ssize_t n = lfs_file_write(&lfs_, &f, src, len);
    // The sync is the commit: its result is the result of the append (never ignored).
    int sync_rc = n < 0 ? static_cast<int>(n) : lfs_file_sync(&lfs_, &f);
    int close_rc = lfs_file_close(&lfs_, &f);
    if (n >= 0 && static_cast<uint32_t>(n) != len) return LFS_ERR_IO;
    if (sync_rc < 0) return sync_rc;
    return close_rc;
}

int LfsSegmentFs::remove(uint32_t id) {
    if (reader_open_ && reader_id_ == id) close_reader();
    char p[48];
    path(id, p);
    return lfs_remove(&lfs_, p);
}

}  // namespace carbontrack

// Storage adapters for the core (carbontrack::Storage) and the NVS configuration.
#pragma once

#include <Preferences.h>

#include <string>
#include <vector>

#include "carbontrack/config.h"
#include "carbontrack/storage.h"

#include <esp_partition.h>

#include "carbontrack/lfs_segment_fs.h"

// Our own littlefs (lib/littlefs, the copy the host tests run) on the `littlefs` data partition
// through the esp_partition API, with the geometry of carbontrack::LfsGeometry: the flash log
// runs on exactly the file system code and configuration that CI tests. Arduino's LittleFS
// (esp_littlefs) is not mounted on this partition.
class PartitionLfs {
  public:
    // Find the partition and mount (format when it holds no littlefs). The littlefs error or
    // -1 when the partition is missing.
    int begin(const char* label = "littlefs");
    lfs_t& lfs() { return lfs_; }
    bool mounted() const { return mounted_; }

  private:
    const esp_partition_t* part_ = nullptr;
    lfs_config cfg_{};
    carbontrack::LfsBuffers bufs_{};
    lfs_t lfs_{};
    bool mounted_ = false;

    static int read(const lfs_config* c, lfs_block_t block, lfs_off_t off, void* buffer, lfs_size_t size);
    static int prog(const lfs_config* c, lfs_block_t block, lfs_off_t off, const void* buffer, lfs_size_t size);
    static int erase(const lfs_config* c, lfs_block_t block);
    static int sync(const lfs_config* c);
};

// A small blob in NVS (sequence counter, OTA guard): cached in RAM, written whole.
// NVS does its own wear levelling; the callers already keep writes rare.
class NvsBlobStorage : public carbontrack::Storage {
  public:
    NvsBlobStorage(Preferences& prefs, const char* key, size_t size) : prefs_(prefs), key_(key), data_(size, 0xFF) {}
    void begin();
    size_t size() const override { return data_.size(); }
    bool read(size_t offset, void* dst, size_t len) override;
    bool write(size_t offset, const void* src, size_t len) override;

  private:
    Preferences& prefs_;
    const char* key_;
    std::vector<uint8_t> data_;
};

// Configuration in the NVS namespace "ct": one string per key of carbontrack::config_keys(),
// plus "ca_pem" (the broker's CA certificate). Missing keys keep the NodeConfig defaults.
void load_config(Preferences& prefs, carbontrack::NodeConfig& cfg);
bool save_config_value(Preferences& prefs, const std::string& key, const std::string& value);
std::string load_ca_pem(Preferences& prefs);

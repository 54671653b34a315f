// Storage adapters for the core (carbontrack::Storage) and the NVS configuration.
#pragma once

#include <Preferences.h>

#include <string>
#include <vector>

#include "carbontrack/config.h"
#include "carbontrack/storage.h"

#include <FS.h>

// A fixed-size file on LittleFS (the reading buffer), kept open; writes are flushed (LittleFS
// commits on flush) before returning, so an acknowledged push survives a power cut.
class LittleFsStorage : public carbontrack::Storage {
  public:
    LittleFsStorage(const char* path, size_t size) : path_(path), size_(size) {}
    // Create the file at full size if missing or of another size; false if the FS is full.
    bool begin();
    size_t size() const override { return size_; }
    bool read(size_t offset, void* dst, size_t len) override;
    bool write(size_t offset, const void* src, size_t len) override;

  private:
    const char* path_;
    size_t size_;
    fs::File file_;
    bool create();
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

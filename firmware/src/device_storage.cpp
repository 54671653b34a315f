#include "device_storage.h"

#include <LittleFS.h>

#include <cstring>

bool LittleFsStorage::begin() {
    if (LittleFS.exists(path_)) {
        File f = LittleFS.open(path_, "r");
        bool right_size = f && f.size() == size_;
        f.close();
        if (!right_size) LittleFS.remove(path_);  // capacity changed: ReadingBuffer reformats anyway
    }
    if (!LittleFS.exists(path_) && !create()) return false;
    file_ = LittleFS.open(path_, "r+");
    return static_cast<bool>(file_);
}

bool LittleFsStorage::create() {
    File f = LittleFS.open(path_, "w");
    if (!f) return false;
    uint8_t chunk[256];
    std::memset(chunk, 0xFF, sizeof chunk);
    for (size_t done = 0; done < size_;) {
        size_t n = std::min(sizeof chunk, size_ - done);
        if (f.write(chunk, n) != n) {
            f.close();
            LittleFS.remove(path_);
            return false;
        }
        done += n;
    }
    f.close();
    return true;
}

bool LittleFsStorage::read(size_t offset, void* dst, size_t len) {
    if (!file_ || offset + len > size_ || !file_.seek(offset)) return false;
    return file_.read(static_cast<uint8_t*>(dst), len) == len;
}

bool LittleFsStorage::write(size_t offset, const void* src, size_t len) {
    if (!file_ || offset + len > size_ || !file_.seek(offset)) return false;
    bool ok = file_.write(static_cast<const uint8_t*>(src), len) == len;
    file_.flush();  // LittleFS commits the write on flush
    return ok;
}

void NvsBlobStorage::begin() {
    if (prefs_.getBytesLength(key_) == data_.size()) prefs_.getBytes(key_, data_.data(), data_.size());
}

bool NvsBlobStorage::read(size_t offset, void* dst, size_t len) {
    if (offset + len > data_.size()) return false;
    std::memcpy(dst, data_.data() + offset, len);
    return true;
}

bool NvsBlobStorage::write(size_t offset, const void* src, size_t len) {
    if (offset + len > data_.size()) return false;
    std::memcpy(data_.data() + offset, src, len);
    return prefs_.putBytes(key_, data_.data(), data_.size()) == data_.size();
}

void load_config(Preferences& prefs, carbontrack::NodeConfig& cfg) {
    for (const auto& key : carbontrack::config_keys()) {
        if (!prefs.isKey(key.c_str())) continue;
        String v = prefs.getString(key.c_str(), "");
        std::string err;
        if (!carbontrack::set_config_value(cfg, key, v.c_str(), &err)) log_e("NVS %s", err.c_str());
    }
}

bool save_config_value(Preferences& prefs, const std::string& key, const std::string& value) {
    return prefs.putString(key.c_str(), value.c_str()) == value.size();
}

std::string load_ca_pem(Preferences& prefs) {
    return prefs.getString("ca_pem", "").c_str();
}

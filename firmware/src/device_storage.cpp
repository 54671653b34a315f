#include "device_storage.h"

#include <cstring>

int PartitionLfs::begin(const char* label) {
    part_ = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (!part_) return -1;
    carbontrack::lfs_node_config(cfg_, bufs_, part_->size / carbontrack::LfsGeometry::kBlockSize);
    cfg_.context = this;
    cfg_.read = &PartitionLfs::read;
    cfg_.prog = &PartitionLfs::prog;
    cfg_.erase = &PartitionLfs::erase;
    cfg_.sync = &PartitionLfs::sync;
    int rc = carbontrack::lfs_mount_or_format(lfs_, cfg_);
    mounted_ = rc == 0;
    // Firmware 1.0 kept its buffer in one big file here; the flash log replaces it.
    if (mounted_) lfs_remove(&lfs_, "/buffer.bin");
    return rc;
}

int PartitionLfs::read(const lfs_config* c, lfs_block_t block, lfs_off_t off, void* buffer, lfs_size_t size) {
    auto* self = static_cast<PartitionLfs*>(c->context);
    return esp_partition_read(self->part_, size_t{block} * c->block_size + off, buffer, size) == ESP_OK ? 0 : LFS_ERR_IO;
}

int PartitionLfs::prog(const lfs_config* c, lfs_block_t block, lfs_off_t off, const void* buffer, lfs_size_t size) {
    auto* self = static_cast<PartitionLfs*>(c->context);
    return esp_partition_write(self->part_, size_t{block} * c->block_size + off, buffer, size) == ESP_OK ? 0 : LFS_ERR_IO;
}

int PartitionLfs::erase(const lfs_config* c, lfs_block_t block) {
    auto* self = static_cast<PartitionLfs*>(c->context);
    return esp_partition_erase_range(self->part_, size_t{block} * c->block_size, c->block_size) == ESP_OK ? 0 : LFS_ERR_IO;
}

int PartitionLfs::sync(const lfs_config*) { return 0; }  // esp_partition_write is synchronous

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

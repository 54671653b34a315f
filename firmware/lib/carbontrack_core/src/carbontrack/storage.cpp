#include "carbontrack/storage.h"

namespace carbontrack {

bool MemoryStorage::read(size_t offset, void* dst, size_t len) {
    if (offset > data_.size() || len > data_.size() - offset) return false;
    std::memcpy(dst, data_.data() + offset, len);
    return true;
}

bool MemoryStorage::write(size_t offset, const void* src, size_t len) {
    if (offset > data_.size() || len > data_.size() - offset) return false;
    if (fail_writes_ > 0) {
        --fail_writes_;
        return false;
    }
    std::memcpy(data_.data() + offset, src, len);
    ++writes_;
    return true;
}

uint32_t crc32(const void* data, size_t len) {
    // IEEE 802.3 polynomial, bitwise: small and fast enough for 56-byte records.
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

}  // namespace carbontrack

// Persistent storage behind an interface: a LittleFS file or an NVS blob on the device,
// memory in tests. Byte-addressed, fixed size; little-endian helpers and CRC-32 for records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace carbontrack {

class Storage {
  public:
    virtual ~Storage() = default;
    // Total bytes addressable.
    virtual size_t size() const = 0;
    // Copy `len` bytes at `offset` into `dst`; false on I/O error or out of range.
    virtual bool read(size_t offset, void* dst, size_t len) = 0;
    // Write `len` bytes at `offset`; false on I/O error or out of range. Durable on return.
    virtual bool write(size_t offset, const void* src, size_t len) = 0;
};

// RAM-backed storage; survives "reboots" in tests because the object outlives the users.
class MemoryStorage : public Storage {
  public:
    explicit MemoryStorage(size_t size, uint8_t fill = 0xFF) : data_(size, fill) {}
    size_t size() const override { return data_.size(); }
    bool read(size_t offset, void* dst, size_t len) override;
    bool write(size_t offset, const void* src, size_t len) override;

    // Test hooks: count writes; make the next `n` writes fail.
    size_t writes() const { return writes_; }
    void fail_next_writes(size_t n) { fail_writes_ = n; }
    std::vector<uint8_t>& bytes() { return data_; }

  private:
    std::vector<uint8_t> data_;
    size_t writes_ = 0;
    size_t fail_writes_ = 0;
};

uint32_t crc32(const void* data, size_t len);

namespace le {
inline void put_u16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
inline void put_u32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_f64(uint8_t* p, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_u64(p, bits);
}
inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline double get_f64(const uint8_t* p) {
    uint64_t bits = get_u64(p);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}
}  // namespace le

}  // namespace carbontrack

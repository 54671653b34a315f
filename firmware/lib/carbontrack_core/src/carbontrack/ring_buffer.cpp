#include "carbontrack/ring_buffer.h"

namespace carbontrack {

namespace {
constexpr uint32_t kMagic = 0x42525443;  // "CTRB"
constexpr uint16_t kVersion = 1;

void encode_record(const Reading& r, uint8_t* p) {
    le::put_u64(p + 0, r.seq);
    le::put_f64(p + 8, r.ts);
    le::put_f64(p + 16, r.co2_ppm);
    le::put_f64(p + 24, r.flue_temp_c);
    le::put_f64(p + 32, r.velocity_m_s);
    le::put_f64(p + 40, r.pressure_pa);
    le::put_u16(p + 48, r.flags);
    le::put_u16(p + 50, 0);
    le::put_u32(p + 52, crc32(p, 52));
}

bool decode_record(const uint8_t* p, Reading& r) {
    if (le::get_u32(p + 52) != crc32(p, 52)) return false;
    r.seq = le::get_u64(p + 0);
    r.ts = le::get_f64(p + 8);
    r.co2_ppm = le::get_f64(p + 16);
    r.flue_temp_c = le::get_f64(p + 24);
    r.velocity_m_s = le::get_f64(p + 32);
    r.pressure_pa = le::get_f64(p + 40);
    r.flags = le::get_u16(p + 48);
    return true;
}
}  // namespace

static_assert(ReadingBuffer::kRecordBytes == 56, "record layout is 56 bytes");

bool ReadingBuffer::load_header(int slot, uint32_t& head, uint32_t& count, uint32_t& dropped, uint32_t& generation) const {
    uint8_t h[kHeaderBytes];
    if (!storage_.read(slot * kHeaderBytes, h, sizeof h)) return false;
    if (le::get_u32(h + 0) != kMagic || le::get_u16(h + 4) != kVersion) return false;
    if (le::get_u16(h + 6) != kRecordBytes || le::get_u32(h + 8) != capacity_) return false;
    if (le::get_u32(h + 28) != crc32(h, 28)) return false;
    head = le::get_u32(h + 12);
    count = le::get_u32(h + 16);
    dropped = le::get_u32(h + 20);
    generation = le::get_u32(h + 24);
    return head < capacity_ && count <= capacity_;
}

bool ReadingBuffer::write_header() {
    ++generation_;
    uint8_t h[kHeaderBytes];
    le::put_u32(h + 0, kMagic);
    le::put_u16(h + 4, kVersion);
    le::put_u16(h + 6, kRecordBytes);
    le::put_u32(h + 8, capacity_);
    le::put_u32(h + 12, head_);
    le::put_u32(h + 16, count_);
    le::put_u32(h + 20, dropped_);
    le::put_u32(h + 24, generation_);
    le::put_u32(h + 28, crc32(h, 28));
    // Alternate slots so the previous header stays intact while this one is written.
    return storage_.write((generation_ % 2) * kHeaderBytes, h, sizeof h);
}

bool ReadingBuffer::begin() {
    if (capacity_ == 0 || storage_.size() < required_bytes(capacity_)) return false;
    bool found = false;
    for (int slot = 0; slot < 2; ++slot) {
        uint32_t head, count, dropped, generation;
        if (!load_header(slot, head, count, dropped, generation)) continue;
        if (!found || generation > generation_) {
            head_ = head;
            count_ = count;
            dropped_ = dropped;
            generation_ = generation;
            found = true;
        }
    }
    formatted_ = !found;
    if (found) return true;
    head_ = count_ = dropped_ = generation_ = 0;
    return write_header();
}

bool ReadingBuffer::push(const Reading& r) {
    uint8_t rec[kRecordBytes];
    encode_record(r, rec);
    uint32_t slot = static_cast<uint32_t>((size_t{head_} + count_) % capacity_);
    if (!storage_.write(record_offset(slot), rec, sizeof rec)) return false;
    if (count_ == capacity_) {
        head_ = (head_ + 1) % capacity_;  // the slot just written held the oldest reading
        ++dropped_;
        ++removed_;
    } else {
        ++count_;
    }
    return write_header();
}

bool ReadingBuffer::at(size_t i, Reading& out) const {
    if (i >= count_) return false;
    uint8_t rec[kRecordBytes];
    uint32_t slot = static_cast<uint32_t>((head_ + i) % capacity_);
    if (!storage_.read(record_offset(slot), rec, sizeof rec)) return false;
    return decode_record(rec, out);
}

bool ReadingBuffer::pop(size_t n) {
    if (n == 0) return true;
    if (n > count_) n = count_;
    removed_ += n;
    head_ = static_cast<uint32_t>((head_ + n) % capacity_);
    count_ -= static_cast<uint32_t>(n);
    return write_header();
}

}  // namespace carbontrack

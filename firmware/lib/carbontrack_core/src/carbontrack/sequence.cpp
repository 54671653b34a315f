#include "carbontrack/sequence.h"

namespace carbontrack {

namespace {
constexpr uint32_t kMagic = 0x51455343;  // "CSEQ"
}

bool SequenceCounter::reserve(uint64_t mark) {
    uint8_t s[kSlotBytes];
    le::put_u32(s + 0, kMagic);
    le::put_u64(s + 4, mark);
    le::put_u32(s + 12, crc32(s, 12));
    int slot = 1 - slot_;  // overwrite the older slot
    if (!storage_.write(static_cast<size_t>(slot) * kSlotBytes, s, sizeof s)) {
        ++persist_errors_;
        return false;
    }
    slot_ = slot;
    reserved_ = mark;
    return true;
}

bool SequenceCounter::begin() {
    if (storage_.size() < kStorageBytes) return false;
    uint64_t best = 0;
    bool found = false;
    for (int slot = 0; slot < 2; ++slot) {
        uint8_t s[kSlotBytes];
        if (!storage_.read(static_cast<size_t>(slot) * kSlotBytes, s, sizeof s)) continue;
        if (le::get_u32(s) != kMagic || le::get_u32(s + 12) != crc32(s, 12)) continue;
        uint64_t mark = le::get_u64(s + 4);
        if (!found || mark > best) {
            best = mark;
            slot_ = slot;
            found = true;
        }
    }
    next_ = found && best > 0 ? best : 1;
    return reserve(next_ + block_);
}

uint64_t SequenceCounter::next() {
    if (next_ >= reserved_) reserve(next_ + block_);
    return next_++;
}

}  // namespace carbontrack

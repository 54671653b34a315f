#include "carbontrack/flash_log.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "carbontrack/sampling.h"
#include "carbontrack/storage.h"

namespace carbontrack {

namespace {
constexpr uint8_t kMagic = 0xC7;
constexpr uint8_t kKindWall = 1;
constexpr uint8_t kKindMono = 2;
constexpr int32_t kAbsent = INT32_MIN;

int32_t to_fixed(double v, double scale) {
    if (!std::isfinite(v)) return kAbsent;
    double x = std::round(v * scale);
    // Saturate: such values are far outside every plausible range and flagged already.
    if (x >= static_cast<double>(INT32_MAX)) return INT32_MAX;
    if (x <= static_cast<double>(INT32_MIN + 1)) return INT32_MIN + 1;
    return static_cast<int32_t>(x);
}

double from_fixed(int32_t v, double scale) { return v == kAbsent ? NAN : static_cast<double>(v) / scale; }
}  // namespace

namespace logrec {

void encode(const LogRecord& rec, uint8_t* p) {
    const Reading& r = rec.reading;
    p[0] = kMagic;
    p[1] = rec.dated ? kKindWall : kKindMono;
    le::put_u16(p + 2, r.flags);
    le::put_u32(p + 4, rec.dated ? 0u : rec.boot_id);
    le::put_u64(p + 8, r.seq);
    int64_t t = rec.dated ? static_cast<int64_t>(std::llround(r.ts * 1000.0)) : static_cast<int64_t>(rec.mono_ms);
    le::put_u64(p + 16, static_cast<uint64_t>(t));
    le::put_u32(p + 24, static_cast<uint32_t>(to_fixed(r.co2_ppm, 10.0)));
    le::put_u32(p + 28, static_cast<uint32_t>(to_fixed(r.flue_temp_c, 100.0)));
    le::put_u32(p + 32, static_cast<uint32_t>(to_fixed(r.velocity_m_s, 1000.0)));
    le::put_u32(p + 36, static_cast<uint32_t>(to_fixed(r.pressure_pa, 10.0)));
    le::put_u32(p + 40, static_cast<uint32_t>(to_fixed(r.dp_pa, 100.0)));
    le::put_u32(p + 44, crc32(p, 44));
}

bool decode(const uint8_t* p, LogRecord& rec) {
    if (p[0] != kMagic || (p[1] != kKindWall && p[1] != kKindMono)) return false;
    if (le::get_u32(p + 44) != crc32(p, 44)) return false;
    Reading& r = rec.reading;
    rec.dated = p[1] == kKindWall;
    r.flags = le::get_u16(p + 2);
    rec.boot_id = le::get_u32(p + 4);
    r.seq = le::get_u64(p + 8);
    int64_t t = static_cast<int64_t>(le::get_u64(p + 16));
    if (rec.dated) {
        r.ts = static_cast<double>(t) / 1000.0;
        rec.mono_ms = 0;
    } else {
        r.ts = 0.0;
        rec.mono_ms = static_cast<uint64_t>(t);
    }
    r.co2_ppm = from_fixed(static_cast<int32_t>(le::get_u32(p + 24)), 10.0);
    r.flue_temp_c = from_fixed(static_cast<int32_t>(le::get_u32(p + 28)), 100.0);
    r.velocity_m_s = from_fixed(static_cast<int32_t>(le::get_u32(p + 32)), 1000.0);
    r.pressure_pa = from_fixed(static_cast<int32_t>(le::get_u32(p + 36)), 10.0);
    r.dp_pa = from_fixed(static_cast<int32_t>(le::get_u32(p + 40)), 100.0);
    return true;
}

}  // namespace logrec

FlashLog::FlashLog(SegmentFs& fs, uint32_t capacity, uint32_t boot_id, uint32_t records_per_segment)
    : fs_(fs), capacity_(capacity ? capacity : 1), boot_id_(boot_id), per_segment_(records_per_segment ? records_per_segment : 1) {}

bool FlashLog::begin() {
    segs_.clear();
    head_ = 0;
    count_ = 0;
    std::vector<uint32_t> ids;
    if (fs_.list(ids) < 0) {
        ++storage_errors_;
        return false;
    }
    std::sort(ids.begin(), ids.end());
    uint8_t rec[logrec::kBytes];
    for (uint32_t id : ids) {
        int bytes = fs_.size(id);
        if (bytes < 0) {
            ++storage_errors_;
            continue;
        }
        Segment seg{id, static_cast<uint32_t>(bytes) / logrec::kBytes, bytes % logrec::kBytes != 0};
        uint32_t valid_end = 0;
        for (uint32_t slot = 0; slot < seg.slots; ++slot) {
            LogRecord r;
            if (fs_.read(id, slot * logrec::kBytes, rec, sizeof rec) != static_cast<int>(sizeof rec)) {
                ++storage_errors_;
                ++corrupt_;
                continue;
            }
            if (!logrec::decode(rec, r)) {
                ++corrupt_;
                continue;
            }
            valid_end = slot + 1;
            if (!r.dated && r.boot_id != boot_id_) ++undatable_;
        }
        if (valid_end < seg.slots) seg.sealed = true;  // torn or corrupt tail: start a new file
        if (seg.slots >= per_segment_) seg.sealed = true;
        if (seg.slots == 0) {
            fs_.remove(id);  // an empty or torn-before-first-record file: nothing to keep
            next_id_ = std::max(next_id_, id + 1);
            continue;
        }
        segs_.push_back(seg);
        count_ += seg.slots;
        next_id_ = std::max(next_id_, id + 1);
    }
    if (count_ > capacity_) drop_front(count_ - capacity_);  // capacity lowered since last boot
    return true;
}

bool FlashLog::locate(size_t i, uint32_t& id, uint32_t& slot) const {
    if (i >= count_) return false;
    size_t k = i + head_;
    for (const Segment& s : segs_) {
        if (k < s.slots) {
            id = s.id;
            slot = static_cast<uint32_t>(k);
            return true;
        }
        k -= s.slots;
    }
    return false;
}

ReadStatus FlashLog::read(size_t i, Reading& out) {
    uint32_t id, slot;
    if (!locate(i, id, slot)) return ReadStatus::Corrupt;
    uint8_t rec[logrec::kBytes];
    if (fs_.read(id, slot * logrec::kBytes, rec, sizeof rec) != static_cast<int>(sizeof rec))
        return ReadStatus::Corrupt;
    LogRecord r;
    if (!logrec::decode(rec, r)) return ReadStatus::Corrupt;
    if (!r.dated) {
        if (r.boot_id != boot_id_) return ReadStatus::Corrupt;  // no time base left for it
        if (!clock_known_) return ReadStatus::NotReady;
        double ts = static_cast<double>(r.mono_ms) / 1000.0 + wall_minus_mono_s_;
        r.reading.ts = std::round(ts * 1000.0) / 1000.0;
        r.reading.flags = static_cast<uint16_t>(r.reading.flags | kFlagClockEstimated);
    }
    out = r.reading;
    return ReadStatus::Ok;
}

void FlashLog::delete_consumed() {
    // Delete fully removed segments; keep the newest one open for appends unless it is sealed.
    while (!segs_.empty() && head_ >= segs_.front().slots && (segs_.size() > 1 || segs_.front().sealed || count_ == 0)) {
        if (fs_.remove(segs_.front().id) < 0) ++storage_errors_;  // a leftover file is rescanned at boot
        segs_.erase(segs_.begin());
        head_ = 0;
    }
}

void FlashLog::drop_front(size_t n) {
    n = std::min(n, count_);
    head_ += static_cast<uint32_t>(n);
    count_ -= n;
    dropped_ += static_cast<uint32_t>(n);
    removed_ += n;
    // head_ may now run past the first segment: normalise across segments.
    while (!segs_.empty() && head_ > segs_.front().slots) {
        head_ -= segs_.front().slots;
        if (fs_.remove(segs_.front().id) < 0) ++storage_errors_;
        segs_.erase(segs_.begin());
    }
    delete_consumed();
}

bool FlashLog::pop(size_t n) {
    n = std::min(n, count_);
    if (n == 0) return true;
    uint32_t before = storage_errors_;
    head_ += static_cast<uint32_t>(n);
    count_ -= n;
    removed_ += n;
    while (!segs_.empty() && head_ > segs_.front().slots) {
        head_ -= segs_.front().slots;
        if (fs_.remove(segs_.front().id) < 0) ++storage_errors_;
        segs_.erase(segs_.begin());
    }
    delete_consumed();
    return storage_errors_ == before;
}

size_t FlashLog::acknowledge(uint64_t ack_seq) {
    size_t n = 0;
    Reading r;
    uint8_t rec[logrec::kBytes];
    for (; n < count_; ++n) {
        uint32_t id, slot;
        if (!locate(n, id, slot)) break;
        LogRecord lr;
        if (fs_.read(id, slot * logrec::kBytes, rec, sizeof rec) == static_cast<int>(sizeof rec) &&
            logrec::decode(rec, lr) && lr.reading.seq > ack_seq)
            break;
    }
    (void)r;
    pop(n);
    return n;
}

bool FlashLog::evict_oldest_segment() {
    if (segs_.size() < 2) return false;
    size_t n = segs_.front().slots - head_;
    drop_front(n);
    return true;
}

bool FlashLog::append(const LogRecord& rec) {
    uint8_t buf[logrec::kBytes];
    logrec::encode(rec, buf);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (segs_.empty() || segs_.back().sealed || segs_.back().slots >= per_segment_) {
            if (!segs_.empty()) segs_.back().sealed = true;
            segs_.push_back(Segment{next_id_++, 0, false});
        }
        Segment& seg = segs_.back();
        int rc = fs_.append(seg.id, buf, static_cast<uint32_t>(sizeof buf));
        if (rc >= 0) {
            ++seg.slots;
            if (seg.slots >= per_segment_) seg.sealed = true;
            ++count_;
            if (count_ > capacity_) drop_front(count_ - capacity_);
            return true;
        }
        ++storage_errors_;
        // A failed sync leaves the file as it was at the last sync (littlefs commits atomically),
        // but do not trust it: the next record goes to a new segment.
        seg.sealed = true;
        if (seg.slots == 0) {
            fs_.remove(seg.id);
            segs_.pop_back();
        }
        // Out of space (other files, bad blocks): give up the oldest readings, not the newest.
        if (rc != SegmentFs::kErrNoSpace || !evict_oldest_segment()) break;
    }
    ++dropped_;
    return false;
}

bool FlashLog::push(const Reading& r) {
    LogRecord rec;
    rec.reading = r;
    return append(rec);
}

bool FlashLog::push_undated(const Reading& r, uint64_t mono_ms) {
    LogRecord rec;
    rec.reading = r;
    rec.dated = false;
    rec.boot_id = boot_id_;
    rec.mono_ms = mono_ms;
    return append(rec);
}

void FlashLog::set_clock(double wall_minus_mono_s) {
    clock_known_ = true;
    wall_minus_mono_s_ = wall_minus_mono_s;
}

// ---- MemorySegmentFs --------------------------------------------------------------------------

std::vector<uint8_t>* MemorySegmentFs::segment(uint32_t id) {
    for (auto& s : segs_)
        if (s.first == id) return &s.second;
    return nullptr;
}

int MemorySegmentFs::list(std::vector<uint32_t>& ids) {
    ids.clear();
    for (auto& s : segs_) ids.push_back(s.first);
    std::sort(ids.begin(), ids.end());
    return 0;
}

int MemorySegmentFs::size(uint32_t id) {
    auto* s = segment(id);
    return s ? static_cast<int>(s->size()) : -2;  // LFS_ERR_NOENT
}

int MemorySegmentFs::read(uint32_t id, uint32_t offset, void* dst, uint32_t len) {
    auto* s = segment(id);
    if (!s) return -2;
    if (offset >= s->size()) return 0;
    uint32_t n = std::min<uint32_t>(len, static_cast<uint32_t>(s->size()) - offset);
    std::memcpy(dst, s->data() + offset, n);
    return static_cast<int>(n);
}

int MemorySegmentFs::append(uint32_t id, const void* src, uint32_t len) {
    if (fail_appends_ > 0) {
        --fail_appends_;
        return fail_error_;
    }
    auto* s = segment(id);
    if (!s) {
        segs_.emplace_back(id, std::vector<uint8_t>());
        s = &segs_.back().second;
    }
    const auto* p = static_cast<const uint8_t*>(src);
    s->insert(s->end(), p, p + len);
    return 0;
}

int MemorySegmentFs::remove(uint32_t id) {
    for (auto it = segs_.begin(); it != segs_.end(); ++it) {
        if (it->first == id) {
            segs_.erase(it);
            return 0;
        }
    }
    return -2;
}

}  // namespace carbontrack

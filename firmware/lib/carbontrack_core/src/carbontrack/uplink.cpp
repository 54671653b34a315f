#include "carbontrack/uplink.h"

#include <algorithm>

namespace carbontrack {

namespace {
constexpr size_t kScratchBytes = 384;  // longest reading: 20-digit seq, 7 numbers of <= 24 chars
constexpr uint32_t kGrowAfterSuccesses = 8;
}  // namespace

Sender::Sender(ReadingQueue& queue, size_t max_payload_bytes, Mode mode, uint32_t ack_timeout_ms)
    : queue_(queue),
      max_payload_(std::max(kMinPayloadBytes, std::min(max_payload_bytes, kMaxPayloadBytes))),
      limit_(max_payload_),
      mode_(mode),
      ack_timeout_ms_(ack_timeout_ms),
      sent_end_(queue.removed()) {
    payload_.reserve(max_payload_);
    scratch_.reserve(kScratchBytes);
}

size_t Sender::in_flight() const {
    uint64_t removed = queue_.removed();
    if (sent_end_ <= removed) return 0;
    return static_cast<size_t>(std::min<uint64_t>(sent_end_ - removed, queue_.size()));
}

FlushResult Sender::flush(Envelope env, const PublishFn& publish, uint64_t now_ms, size_t max_messages,
                          uint32_t also_waiting) {
    FlushResult result;
    Reading r;
    size_t sent = in_flight();  // readings at the front already published
    while (result.messages < max_messages && sent < queue_.size()) {
        // Pass 1: how many records after the `sent` ones go into this message. Size the head with
        // the largest `buffered` this message could carry: the real one is never longer.
        env.buffered = static_cast<uint32_t>(queue_.size() - sent) + also_waiting;
        payload_.clear();
        append_envelope_head(payload_, env);
        size_t size = payload_.size() + kPayloadTailBytes;
        size_t slots = 0, valid = 0;
        for (size_t i = sent; i < queue_.size(); ++i) {
            ReadStatus st = queue_.read(i, r);
            if (st == ReadStatus::NotReady) {
                result.waiting_for_clock = true;
                break;
            }
            if (st == ReadStatus::Corrupt) {
                ++result.corrupt;
                ++slots;
                continue;
            }
            scratch_.clear();
            append_reading(scratch_, r, env.v11);
            size_t add = scratch_.size() + (valid ? kPayloadSeparatorBytes : 0);
            if (size + add > limit_) break;
            size += add;
            ++slots;
            ++valid;
        }
        if (valid == 0) {
            if (slots == 0) {  // waiting for the clock, or one reading larger than the limit
                if (!result.waiting_for_clock) result.failed = true;
                break;
            }
            // Only unreadable records here: remove them at the front, else count them as sent.
            if (sent == 0 || mode_ == Mode::RemoveOnPuback) {
                queue_.pop(slots);
            } else {
                sent += slots;
            }
            sent_end_ = queue_.removed() + sent;
            continue;
        }
        // Pass 2: encode into the reserved buffer (no reallocation: size <= limit_ <= capacity).
        env.buffered = static_cast<uint32_t>(queue_.size() - sent - slots) + also_waiting;
        payload_.clear();
        append_envelope_head(payload_, env);
        size_t written = 0;
        for (size_t i = sent; i < sent + slots; ++i) {
            if (queue_.read(i, r) != ReadStatus::Ok) continue;
            if (written++) payload_ += ", ";
            if (result.first_seq == 0 || r.seq < result.first_seq) result.first_seq = r.seq;
            if (r.seq > result.last_seq) result.last_seq = r.seq;
            append_reading(payload_, r, env.v11);
        }
        payload_ += "]}";
        if (!publish(payload_)) {
            result.failed = true;
            ++publish_failures_;
            successes_in_row_ = 0;
            // A slow link that cannot move this message within the publish timeout gets smaller ones.
            limit_ = std::max(kMinPayloadBytes, limit_ / 2);
            break;
        }
        if (++successes_in_row_ >= kGrowAfterSuccesses && limit_ < max_payload_) {
            limit_ = std::min(max_payload_, limit_ * 2);
            successes_in_row_ = 0;
        }
        if (mode_ == Mode::RemoveOnPuback) {
            queue_.pop(slots);
        } else {
            if (sent == 0) in_flight_since_ms_ = now_ms;
            sent += slots;
        }
        sent_end_ = queue_.removed() + sent;
        result.published += written;
        ++result.messages;
    }
    return result;
}

size_t Sender::on_ack(uint64_t ack_seq, uint64_t now_ms) {
    size_t n = 0;
    Reading r;
    for (; n < queue_.size(); ++n) {
        ReadStatus st = queue_.read(n, r);
        if (st == ReadStatus::NotReady) break;
        if (st == ReadStatus::Ok && r.seq > ack_seq) break;
    }
    if (n == 0) return 0;
    queue_.pop(n);  // removed() advances; sent_end_ stays: what is left in flight shrinks by n
    in_flight_since_ms_ = now_ms;  // progress: the timeout restarts for what is still in flight
    return n;
}

bool Sender::tick(uint64_t now_ms) {
    if (mode_ != Mode::RemoveOnAck || in_flight() == 0) return false;
    if (now_ms - in_flight_since_ms_ < ack_timeout_ms_) return false;
    rewind();
    ++resends_;
    return true;
}

FlushResult flush_buffer(ReadingQueue& queue, Envelope env, const PublishFn& publish, size_t max_bytes,
                         size_t max_messages, uint32_t also_waiting) {
    Sender sender(queue, max_bytes, Sender::Mode::RemoveOnPuback);
    return sender.flush(std::move(env), publish, 0, max_messages, also_waiting);
}

}  // namespace carbontrack

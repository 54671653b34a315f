// Flushing the store-and-forward queue: each message is encoded into one buffer reserved once
// (gathering only the readings that fit, read one at a time from flash), so a flush needs no
// heap beyond that buffer whatever the backlog. Readings leave the queue on the broker's PUBACK
// (v1) or, with contract v1.1, only when the server's `ack` covers their seq; unacknowledged
// readings are sent again after a timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "carbontrack/payload.h"
#include "carbontrack/reading_queue.h"
#include "carbontrack/ring_buffer.h"

namespace carbontrack {

// Publishes one telemetry payload; returns true only when the broker acknowledged it (PUBACK).
using PublishFn = std::function<bool(const std::string& payload)>;

struct FlushResult {
    size_t published = 0;  // readings acknowledged by the broker (removed, or awaiting the server ack)
    size_t messages = 0;   // payloads acknowledged
    size_t corrupt = 0;    // records that failed their CRC (or cannot be dated) and were skipped
    bool failed = false;   // a publish was not acknowledged; the rest stays buffered
    bool waiting_for_clock = false;  // stopped at a reading taken before the clock was known
    uint64_t first_seq = 0;          // lowest seq published by this call (0 = none)
    uint64_t last_seq = 0;           // highest seq published by this call (0 = none)
};

// Seconds without a covering ack before in-flight readings are sent again (docs/payload.md).
constexpr uint32_t kAckResendTimeoutMs = 30000;

class Sender {
  public:
    enum class Mode { RemoveOnPuback, RemoveOnAck };
    static constexpr size_t kMinPayloadBytes = 1024;

    // Reserves the payload buffer (`max_payload_bytes`) here, once.
    // The resend timeout must stay well under the listener's gap give-up (mqtt_listener/ack.py
    // GAP_SKIP_S = 60 s): a reading lost in the broker is resent before the server acks past it.
    Sender(ReadingQueue& queue, size_t max_payload_bytes, Mode mode = Mode::RemoveOnAck,
           uint32_t ack_timeout_ms = kAckResendTimeoutMs);

    // Publish up to `max_messages` payloads of the readings not yet in flight, oldest first.
    // `also_waiting` is added to `buffered` (readings held elsewhere).
    FlushResult flush(Envelope env, const PublishFn& publish, uint64_t now_ms, size_t max_messages = SIZE_MAX,
                      uint32_t also_waiting = 0);

    // The server committed every seq <= `ack_seq`: remove those readings. Returns how many.
    size_t on_ack(uint64_t ack_seq, uint64_t now_ms);
    // Call every loop: after `ack_timeout_ms` without an ack covering the in-flight readings they
    // are sent again. True when it rewound.
    bool tick(uint64_t now_ms);
    // The connection was lost: whatever was in flight is sent again on the next connection.
    void rewind() { sent_end_ = queue_.removed(); }

    // Readings at the front already published and waiting for the server's ack.
    size_t in_flight() const;
    size_t payload_limit() const { return limit_; }  // shrinks after failed publishes
    uint32_t resends() const { return resends_; }
    uint32_t publish_failures() const { return publish_failures_; }
    Mode mode() const { return mode_; }

  private:
    ReadingQueue& queue_;
    size_t max_payload_;
    size_t limit_;
    Mode mode_;
    uint32_t ack_timeout_ms_;
    // Absolute index (counted like queue_.removed()) of the first reading not yet sent, so the
    // in-flight set stays right when the queue drops its oldest readings.
    uint64_t sent_end_ = 0;
    uint64_t in_flight_since_ms_ = 0;
    uint32_t resends_ = 0;
    uint32_t publish_failures_ = 0;
    uint32_t successes_in_row_ = 0;
    std::string payload_;  // reserved once: max_payload_ bytes
    std::string scratch_;  // one encoded reading
};

// One-shot flush with v1 semantics (remove on PUBACK): `Sender(queue, max_bytes,
// RemoveOnPuback).flush(...)`.
FlushResult flush_buffer(ReadingQueue& queue, Envelope env, const PublishFn& publish,
                         size_t max_bytes = kMaxPayloadBytes, size_t max_messages = SIZE_MAX,
                         uint32_t also_waiting = 0);

}  // namespace carbontrack

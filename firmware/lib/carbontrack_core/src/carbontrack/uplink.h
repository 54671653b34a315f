// Flushing the store-and-forward buffer: batches that respect the payload limit, removed from
// the buffer only once the publish was acknowledged (QoS 1 PUBACK).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "carbontrack/payload.h"
#include "carbontrack/ring_buffer.h"

namespace carbontrack {

// Publishes one telemetry payload; returns true only when the broker acknowledged it.
using PublishFn = std::function<bool(const std::string& payload)>;

struct FlushResult {
    size_t published = 0;  // readings acknowledged and removed
    size_t messages = 0;   // payloads acknowledged
    size_t corrupt = 0;    // records that failed their CRC and were discarded
    bool failed = false;   // a publish was not acknowledged; the rest stays buffered
};

// Publish buffered readings, oldest first, in payloads of at most `max_bytes`, for up to
// `max_messages` messages. `env` supplies device_id/fw/rssi/uptime; `buffered` is set per
// message to the number of readings still waiting after it, plus `also_waiting` (readings held
// elsewhere, e.g. for a time stamp).
FlushResult flush_buffer(ReadingBuffer& buffer, Envelope env, const PublishFn& publish,
                         size_t max_bytes = kMaxPayloadBytes, size_t max_messages = SIZE_MAX,
                         uint32_t also_waiting = 0);

}  // namespace carbontrack

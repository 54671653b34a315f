#include "carbontrack/uplink.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace carbontrack {

namespace {
// A reading encodes to at least ~90 bytes, so a 64 KiB payload never holds more than this.
constexpr size_t kMaxReadingsPerPayload = kMaxPayloadBytes / 80;
}  // namespace

FlushResult flush_buffer(ReadingBuffer& buffer, Envelope env, const PublishFn& publish, size_t max_bytes,
                         size_t max_messages, uint32_t also_waiting) {
    FlushResult result;
    std::vector<Reading> batch;
    while (!buffer.empty() && result.messages < max_messages) {
        // Gather valid readings from the front; `slots` counts corrupt records too, so they are
        // removed together with the batch they sit in.
        batch.clear();
        size_t slots = 0;
        size_t limit = std::min(buffer.size(), kMaxReadingsPerPayload);
        for (; slots < limit; ++slots) {
            Reading r;
            if (buffer.at(slots, r)) {
                batch.push_back(r);
            } else {
                ++result.corrupt;
            }
        }
        if (batch.empty()) {  // only corrupt records here: drop them and go on
            buffer.pop(slots);
            continue;
        }
        // Size with the largest `buffered` value this message could carry: the real value is
        // smaller or equal, so the payload can only shrink.
        env.buffered = static_cast<uint32_t>(buffer.size()) + also_waiting;
        size_t n = fit_readings(env, batch.data(), batch.size(), max_bytes);
        if (n == 0) {  // cannot happen with a validated device id; never spin on it
            result.failed = true;
            break;
        }
        // Slots to remove: the n readings plus the corrupt records among/before them.
        size_t take_slots = 0;
        for (size_t valid = 0; take_slots < slots && valid < n; ++take_slots) {
            Reading r;
            if (buffer.at(take_slots, r)) ++valid;
        }
        env.buffered = static_cast<uint32_t>(buffer.size() - take_slots) + also_waiting;
        if (!publish(encode_payload(env, batch.data(), n))) {
            result.failed = true;
            break;
        }
        buffer.pop(take_slots);
        result.published += n;
        ++result.messages;
    }
    return result;
}

}  // namespace carbontrack

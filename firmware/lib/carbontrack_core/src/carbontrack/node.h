// The node's measurement pipeline without hardware: samples → interval reading → sequence
// number → wall-clock stamp (or held until NTP) → persistent buffer → batched publish.
// The Arduino loop (firmware/src/main.cpp) feeds it sensor samples and times; the host tests
// and emit_payloads drive it the same way.
#pragma once

#include <cstdint>
#include <string>

#include "carbontrack/clock.h"
#include "carbontrack/config.h"
#include "carbontrack/flash_log.h"
#include "carbontrack/reading_queue.h"
#include "carbontrack/ring_buffer.h"
#include "carbontrack/sampling.h"
#include "carbontrack/sequence.h"
#include "carbontrack/uplink.h"

namespace carbontrack {

AggregatorSettings aggregator_settings(const NodeConfig& cfg);

class NodeCore {
  public:
    // `mode`: RemoveOnPuback (contract v1 servers) or RemoveOnAck (v1.1: the server's `ack`).
    NodeCore(const NodeConfig& cfg, ReadingQueue& buffer, SequenceCounter& seq, size_t pending_capacity = 240,
             Sender::Mode mode = Sender::Mode::RemoveOnPuback);

    void add_sample(const Sample& s) { aggregator_.add(s); }

    // Close the interval that ended at `mono_ms`. With the wall time known (`wall_now_s` at
    // `mono_ms` plausible) the reading goes straight into the buffer; otherwise it is held.
    // Returns true when a reading was produced.
    bool end_interval(uint64_t mono_ms, double wall_now_s, IntervalResult* out = nullptr);

    // The clock is known (NTP or the server's ack time): readings taken before are dated from
    // their monotonic stamp (flag CLOCK_ESTIMATED); those held in RAM go to the buffer.
    size_t time_known(double wall_now_s, uint64_t mono_now_ms);

    // Publish buffered readings (Sender::flush); `buffered` in each message also counts the
    // readings still waiting for a time stamp in RAM. `now_ms` is the monotonic time.
    FlushResult flush(Envelope env, const PublishFn& publish, size_t max_messages = SIZE_MAX, uint64_t now_ms = 0);
    // The server's ack (contract v1.1): remove readings with seq <= ack_seq.
    size_t on_ack(uint64_t ack_seq, uint64_t now_ms) { return sender_.on_ack(ack_seq, now_ms); }
    Sender& sender() { return sender_; }

    uint32_t intervals_without_data() const { return empty_intervals_; }
    uint32_t dropped() const { return buffer_.dropped() + pending_.dropped(); }
    uint32_t storage_errors() const { return storage_errors_; }
    size_t pending() const { return pending_.size(); }
    ReadingQueue& buffer() { return buffer_; }

  private:
    NodeConfig cfg_;
    ReadingQueue& buffer_;
    SequenceCounter& seq_;
    IntervalAggregator aggregator_;
    PendingStamps pending_;
    Sender sender_;
    uint32_t expected_samples_;
    uint32_t empty_intervals_ = 0;
    uint32_t storage_errors_ = 0;

    void store(const Reading& r);
};

}  // namespace carbontrack

// The node's measurement pipeline without hardware: samples → interval reading → sequence
// number → wall-clock stamp (or held until NTP) → persistent buffer → batched publish.
// The Arduino loop (firmware/src/main.cpp) feeds it sensor samples and times; the host tests
// and emit_payloads drive it the same way.
#pragma once

#include <cstdint>
#include <string>

#include "carbontrack/clock.h"
#include "carbontrack/config.h"
#include "carbontrack/ring_buffer.h"
#include "carbontrack/sampling.h"
#include "carbontrack/sequence.h"
#include "carbontrack/uplink.h"

namespace carbontrack {

AggregatorSettings aggregator_settings(const NodeConfig& cfg);

class NodeCore {
  public:
    NodeCore(const NodeConfig& cfg, ReadingBuffer& buffer, SequenceCounter& seq, size_t pending_capacity = 240);

    void add_sample(const Sample& s) { aggregator_.add(s); }

    // Close the interval that ended at `mono_ms`. With the wall time known (`wall_now_s` at
    // `mono_ms` plausible) the reading goes straight into the buffer; otherwise it is held.
    // Returns true when a reading was produced.
    bool end_interval(uint64_t mono_ms, double wall_now_s, IntervalResult* out = nullptr);

    // NTP has set the clock: stamp and buffer everything held.
    size_t time_known(double wall_now_s, uint64_t mono_now_ms);

    // Publish buffered readings (see flush_buffer); `buffered` in each message also counts the
    // readings still waiting for a time stamp.
    FlushResult flush(Envelope env, const PublishFn& publish, size_t max_messages = SIZE_MAX);

    uint32_t intervals_without_data() const { return empty_intervals_; }
    uint32_t dropped() const { return buffer_.dropped() + pending_.dropped(); }
    uint32_t storage_errors() const { return storage_errors_; }
    size_t pending() const { return pending_.size(); }
    ReadingBuffer& buffer() { return buffer_; }

  private:
    NodeConfig cfg_;
    ReadingBuffer& buffer_;
    SequenceCounter& seq_;
    IntervalAggregator aggregator_;
    PendingStamps pending_;
    uint32_t expected_samples_;
    uint32_t empty_intervals_ = 0;
    uint32_t storage_errors_ = 0;

    void store(const Reading& r);
};

}  // namespace carbontrack

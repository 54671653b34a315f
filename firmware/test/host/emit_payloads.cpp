// Drive the firmware core like the device loop does and print every telemetry payload it
// publishes, one JSON per line, to stdout; a one-line JSON summary goes to stderr. The buffer is
// the device's: the flash log on littlefs (RAM flash with the partition geometry), readings
// removed on the server's ack (simulated: the server commits every published reading and acks
// the highest seq; after a reboot the retained ack arrives before the first flush).
// Used by tests/test_firmware_contract.py to feed real firmware output through the listener.
//
//   emit_payloads [--device ID] [--fw VER] [--start-ts UNIX] [--n INTERVALS] [--interval S]
//                 [--max-bytes B] [--capacity N] [--offline FROM:TO] [--ntp-after K]
//                 [--reboot-at K] [--pressure-every K] [--rssi DBM]
//
// Interval k (0-based) ends at start-ts + interval·(k+1). --offline FROM:TO: publishes fail for
// intervals FROM..TO-1 (store-and-forward, drops when --capacity is small). --ntp-after K: the
// wall clock is unknown until interval K (readings held, then stamped). --reboot-at K: the node
// restarts before interval K (buffer and sequence counter reload from storage). Interval k has
// a pressure sensor reading when k % pressure-every == 0 (0 = never).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <memory>
#include <string>

#include "carbontrack/flash_log.h"
#include "carbontrack/lfs_segment_fs.h"
#include "carbontrack/node.h"
#include "ram_flash.h"

using namespace carbontrack;

namespace {

struct Options {
    std::string device = "KGW-S1";
    std::string factory = "KGW";
    std::string fw = "1.0.0";
    double start_ts = 1764331200.0;
    int n = 10;
    uint32_t interval_s = 60;
    uint32_t max_bytes = kMaxPayloadBytes;
    uint32_t capacity = 10000;
    int offline_from = -1, offline_to = -1;
    int ntp_after = 0;
    int reboot_at = -1;
    int pressure_every = 2;
    int rssi = -67;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "emit_payloads: %s (see the comment at the top of emit_payloads.cpp)\n", why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage(("missing value for " + a).c_str());
        const char* v = argv[++i];
        if (a == "--device") o.device = v;
        else if (a == "--factory") o.factory = v;
        else if (a == "--fw") o.fw = v;
        else if (a == "--start-ts") o.start_ts = std::atof(v);
        else if (a == "--n") o.n = std::atoi(v);
        else if (a == "--interval") o.interval_s = static_cast<uint32_t>(std::atoi(v));
        else if (a == "--max-bytes") o.max_bytes = static_cast<uint32_t>(std::atoi(v));
        else if (a == "--capacity") o.capacity = static_cast<uint32_t>(std::atoi(v));
        else if (a == "--offline") {
            if (std::sscanf(v, "%d:%d", &o.offline_from, &o.offline_to) != 2) usage("--offline wants FROM:TO");
        } else if (a == "--ntp-after") o.ntp_after = std::atoi(v);
        else if (a == "--reboot-at") o.reboot_at = std::atoi(v);
        else if (a == "--pressure-every") o.pressure_every = std::atoi(v);
        else if (a == "--rssi") o.rssi = std::atoi(v);
        else usage(("unknown option " + a).c_str());
    }
    if (o.n < 0 || o.interval_s < 10 || o.capacity < 1) usage("bad numbers");
    return o;
}

// Deterministic "sensor" values for sample j of interval k: a slowly varying stack.
Sample sample(int k, int j, bool with_pressure) {
    Sample s;
    double phase = 0.3 * k + 0.05 * j;
    s.co2_ppm = 84000.0 + 1500.0 * std::sin(phase) + 7.0 * j;
    s.flue_temp_c = 186.0 + 4.0 * std::cos(0.7 * phase);
    s.dp_pa = 42.0 + 6.0 * std::sin(1.3 * phase);
    s.pressure_pa = with_pressure ? 79650.0 + 25.0 * std::sin(phase) : NAN;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    NodeConfig cfg;
    cfg.device_id = o.device;
    cfg.factory_code = o.factory;
    cfg.publish_interval_s = o.interval_s;
    cfg.sample_period_s = o.interval_s / 30;
    cfg.max_payload_bytes = o.max_bytes;
    cfg.buffer_capacity = o.capacity;

    RamFlash flash;
    MemoryStorage seq_mem(SequenceCounter::kStorageBytes);
    lfs_t lfs{};
    bool mounted = false;
    std::unique_ptr<LfsSegmentFs> log_fs;
    std::unique_ptr<FlashLog> buffer;
    std::unique_ptr<SequenceCounter> seq;
    std::unique_ptr<NodeCore> node;
    uint64_t boot_mono_ms = 0;  // monotonic clock restarts at each boot
    uint64_t dropped_before_reboot = 0;
    uint64_t server_ack = 0;  // the retained ack on the broker
    auto boot = [&] {
        if (node) dropped_before_reboot += node->dropped();  // counters restart with the boot
        node.reset();
        buffer.reset();
        log_fs.reset();
        if (mounted) lfs_unmount(&lfs);
        if (flash.mount(lfs) != 0) usage("littlefs mount failed");
        mounted = true;
        seq = std::make_unique<SequenceCounter>(seq_mem);
        if (!seq->begin()) usage("storage init failed");
        log_fs = std::make_unique<LfsSegmentFs>(lfs);
        buffer = std::make_unique<FlashLog>(*log_fs, o.capacity, static_cast<uint32_t>(seq->peek()));
        if (!buffer->begin()) usage("flash log init failed");
        node = std::make_unique<NodeCore>(cfg, *buffer, *seq, 240, Sender::Mode::RemoveOnAck);
        if (server_ack) node->on_ack(server_ack, 0);  // the retained ack, delivered at subscribe
    };
    boot();

    size_t messages = 0, published = 0;
    bool time_known = o.ntp_after <= 0;
    double uptime_start = o.start_ts;
    auto publish = [&](const std::string& payload) {
        std::fwrite(payload.data(), 1, payload.size(), stdout);
        std::fputc('\n', stdout);
        ++messages;
        return true;
    };
    for (int k = 0; k < o.n; ++k) {
        if (k == o.reboot_at) {
            boot();
            uptime_start = o.start_ts + o.interval_s * k;
            time_known = false;  // a fresh boot waits for NTP again ...
        }
        double wall_end = o.start_ts + static_cast<double>(o.interval_s) * (k + 1);
        uint64_t mono_end = static_cast<uint64_t>((wall_end - uptime_start) * 1000.0) + boot_mono_ms;
        if (k == o.reboot_at) time_known = true;  // ... which answers within the first interval here
        if (!time_known && k >= o.ntp_after) {
            time_known = true;
            node->time_known(wall_end - o.interval_s, mono_end - o.interval_s * 1000);
        }
        bool with_pressure = o.pressure_every > 0 && k % o.pressure_every == 0;
        for (int j = 0; j < 30; ++j) node->add_sample(sample(k, j, with_pressure));
        node->end_interval(mono_end, time_known ? wall_end : 0.0);
        bool online = !(k >= o.offline_from && k < o.offline_to);
        if (online && time_known) {
            Envelope env{o.device, o.fw, o.rssi, static_cast<uint64_t>(wall_end - uptime_start), 0};
            FlushResult r = node->flush(env, publish, SIZE_MAX, mono_end);
            published += r.published;
            if (r.last_seq) {
                server_ack = std::max(server_ack, r.last_seq);
                node->on_ack(server_ack, mono_end);
            }
        }
    }
    if (time_known) {  // final flush: the link is up at the end of every scenario
        Envelope env{o.device, o.fw, o.rssi, static_cast<uint64_t>(o.start_ts + o.interval_s * o.n - uptime_start), 0};
        FlushResult r = node->flush(env, publish);
        published += r.published;
        if (r.last_seq) node->on_ack(std::max(server_ack, r.last_seq), 0);
    }
    std::fflush(stdout);
    std::fprintf(stderr,
                 "{\"intervals\": %d, \"published\": %zu, \"messages\": %zu, \"dropped\": %llu, "
                 "\"empty_intervals\": %u, \"buffered\": %zu}\n",
                 o.n, published, messages,
                 static_cast<unsigned long long>(node->dropped() + buffer->undatable() + dropped_before_reboot),
                 node->intervals_without_data(),
                 node->buffer().size());
    return 0;
}

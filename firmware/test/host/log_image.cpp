// Flash-log images for tests/test_firmware_littlefs.py (littlefs-python, an independent build of
// littlefs, reads what the node writes and writes what the node must read):
//   log_image write IMAGE N CAPACITY ACK   N readings (seq 1..N, values below), ack up to ACK,
//                                          raw flash (224 x 4 KiB) written to IMAGE
//   log_image read IMAGE                   mount IMAGE, scan the log, print
//                                          {"seqs": [...], "corrupt": n, "co2_ppm": [...]} on stdout
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "carbontrack/flash_log.h"
#include "carbontrack/lfs_segment_fs.h"
#include "ram_flash.h"

using namespace carbontrack;

namespace {
// The values the Python test recomputes independently.
Reading reading(uint64_t seq) {
    Reading r;
    r.seq = seq;
    r.ts = 1764331200.0 + 60.0 * static_cast<double>(seq) + 0.125;
    r.co2_ppm = 80000.0 + static_cast<double>(seq) / 10.0;
    r.flue_temp_c = 150.0 + static_cast<double>(seq % 100) / 100.0;
    r.velocity_m_s = 5.0 + static_cast<double>(seq % 1000) / 1000.0;
    r.pressure_pa = seq % 2 ? 79650.5 : NAN;
    r.dp_pa = seq % 3 ? 31.25 : NAN;
    r.flags = static_cast<uint16_t>(seq % 256);
    return r;
}
int fail(const char* why) {
    std::fprintf(stderr, "log_image: %s\n", why);
    return 2;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return fail("usage: log_image write IMAGE N CAPACITY ACK | read IMAGE");
    std::string mode = argv[1];
    RamFlash flash;
    lfs_t lfs{};
    if (mode == "write") {
        if (argc != 6) return fail("write IMAGE N CAPACITY ACK");
        uint64_t n = std::strtoull(argv[3], nullptr, 10), ack = std::strtoull(argv[5], nullptr, 10);
        if (flash.mount(lfs) != 0) return fail("mount");
        {
            LfsSegmentFs fs(lfs);
            FlashLog log(fs, static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)), 1);
            if (!log.begin()) return fail("begin");
            for (uint64_t s = 1; s <= n; ++s)
                if (!log.push(reading(s))) return fail("push");
            log.acknowledge(ack);
        }
        lfs_unmount(&lfs);
        std::ofstream out(argv[2], std::ios::binary);
        out.write(reinterpret_cast<const char*>(flash.bytes().data()), static_cast<std::streamsize>(flash.bytes().size()));
        return out ? 0 : fail("write image");
    }
    if (mode == "read") {
        std::ifstream in(argv[2], std::ios::binary);
        std::vector<uint8_t> img((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (img.size() != flash.bytes().size()) return fail("image size is not 224 x 4096");
        flash.bytes() = img;
        if (flash.mount(lfs) != 0) return fail("mount");
        LfsSegmentFs fs(lfs);
        FlashLog log(fs, 100000, 1);
        if (!log.begin()) return fail("begin");
        std::string seqs, co2;
        Reading r;
        for (size_t i = 0; i < log.size(); ++i) {
            if (log.read(i, r) != ReadStatus::Ok) continue;
            if (!seqs.empty()) seqs += ", ", co2 += ", ";
            seqs += std::to_string(r.seq);
            char b[32];
            std::snprintf(b, sizeof b, "%.1f", r.co2_ppm);
            co2 += b;
        }
        std::printf("{\"seqs\": [%s], \"co2_ppm\": [%s], \"corrupt\": %u}\n", seqs.c_str(), co2.c_str(), log.corrupt());
        return 0;
    }
    return fail("mode must be write or read");
}

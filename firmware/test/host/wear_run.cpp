// Long wear run (not part of `make test`: ~10 s at -O2): N readings online at one a minute, each
// appended to the flash log on littlefs (RAM NOR flash, partition geometry), acked and its segment
// deleted; prints total and per-block erases every N/10 readings. `make wear [N=200000]`.
#include <algorithm>
#include <cstdio>
#include "ram_flash.h"
#include "carbontrack/flash_log.h"
using namespace carbontrack;
int main(int argc, char** argv) {
    uint64_t N = argc > 1 ? strtoull(argv[1], 0, 10) : 100000;
    RamFlash flash; lfs_t lfs; flash.mount(lfs);
    LfsSegmentFs fs(lfs); FlashLog log(fs, 10000, 1); log.begin();
    Reading r; r.co2_ppm = 1; r.flue_temp_c = 1; r.velocity_m_s = 1;
    uint64_t seq = 1;
    for (uint64_t k = 0; k < N; ++k) {
        r.seq = seq; r.ts = 1.7e9 + seq; log.push(r); log.acknowledge(seq++);
        if ((k+1) % (N/10) == 0) {
            auto e = flash.erases(); std::vector<uint32_t> s(e); std::sort(s.rbegin(), s.rend());
            printf("%llu readings: total %llu max %u top5 %u %u %u %u %u; hot block idx %ld\n", (unsigned long long)(k+1),
              (unsigned long long)flash.total_erases(), s[0], s[0], s[1], s[2], s[3], s[4], std::max_element(e.begin(), e.end()) - e.begin());
        }
    }
}

// Peak heap per flush, measured with a counting allocator (global operator new/delete of this
// test binary): a backlog of 10,000 readings on real littlefs, 16 KiB payloads, the device's four
// messages per loop pass. Budget: 40 KB (an ESP32-WROOM without PSRAM with TLS up).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <new>

#include "carbontrack/flash_log.h"
#include "carbontrack/lfs_segment_fs.h"
#include "carbontrack/node.h"
#include "carbontrack/uplink.h"
#include "ram_flash.h"

namespace heapcount {
size_t live = 0, peak = 0;
bool on = false;
}  // namespace heapcount

namespace {
constexpr size_t kHeader = 16;  // keeps the 16-byte alignment of operator new
void* counted_alloc(size_t n) {
    auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
    if (!p) throw std::bad_alloc();
    *reinterpret_cast<size_t*>(p) = n;
    heapcount::live += n;
    if (heapcount::on && heapcount::live > heapcount::peak) heapcount::peak = heapcount::live;
    return p + kHeader;
}
void counted_free(void* q) noexcept {
    if (!q) return;
    auto* p = static_cast<unsigned char*>(q) - kHeader;
    heapcount::live -= *reinterpret_cast<size_t*>(p);
    std::free(p);
}
}  // namespace

void* operator new(size_t n) { return counted_alloc(n); }
void* operator new[](size_t n) { return counted_alloc(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }

using namespace carbontrack;

namespace {
size_t peak_since(size_t baseline) { return heapcount::peak > baseline ? heapcount::peak - baseline : 0; }
void start_window() {
    heapcount::peak = heapcount::live;
    heapcount::on = true;
}
}  // namespace

TEST_CASE("counting allocator sees allocations (the measurement can fail)") {
    size_t base = heapcount::live;
    start_window();
    {
        std::string s(50000, 'x');
        CHECK(peak_since(base) >= 50000);
    }
    heapcount::on = false;
}

TEST_CASE("heap: peak per flush <= 40 KB with a 10,000-reading backlog on littlefs and 16 KiB payloads") {
    RamFlash flash;
    lfs_t lfs{};
    REQUIRE(flash.mount(lfs) == 0);
    {
        LfsSegmentFs fs(lfs);
        FlashLog log(fs, 10000, 1);
        REQUIRE(log.begin());
        Reading r;
        r.co2_ppm = 84133.3;
        r.flue_temp_c = 186.45;
        r.velocity_m_s = 7.912;
        r.pressure_pa = 79650.1;
        r.dp_pa = 31.27;
        for (uint64_t s = 1; s <= 10000; ++s) {
            r.seq = 4294967296ull + s;  // long seqs: the most bytes per reading
            r.ts = 1764331200.123 + 60.0 * static_cast<double>(s);
            REQUIRE(log.push(r));
        }
        Envelope env{"KGW-S1-LONG-DEVICE-NAME", "1.1.0", -67, 4294967296ull, 0};
        env.conv.present = true;
        env.conv.pitot_k = 0.84;
        env.conv.velocity_profile_factor = 1.0;

        size_t base = heapcount::live;
        start_window();
        Sender sender(log, kMaxNodePayloadBytes, Sender::Mode::RemoveOnAck);
        size_t largest = 0, messages = 0;
        FlushResult res = sender.flush(env, [&](const std::string& p) {
            largest = std::max(largest, p.size());
            ++messages;
            return true;
        }, 0, 4);
        heapcount::on = false;
        size_t peak = peak_since(base);
        MESSAGE("peak heap during Sender construction + flush of " << messages << " messages ("
                << res.published << " readings, largest " << largest << " B): " << peak << " B");
        std::printf("HEAP peak_bytes_per_flush=%zu messages=%zu readings=%zu largest_payload=%zu\n", peak, messages,
                    res.published, largest);
        CHECK(messages == 4);
        CHECK(largest <= kMaxNodePayloadBytes);
        CHECK(largest > kMaxNodePayloadBytes - 400);  // the buffer is really filled
        CHECK(peak <= 40 * 1024);
        // A second flush on the same Sender allocates (almost) nothing: the buffer is reused.
        base = heapcount::live;
        start_window();
        sender.rewind();
        sender.flush(env, [](const std::string&) { return true; }, 0, 4);
        heapcount::on = false;
        CHECK(peak_since(base) <= 1024);
    }
    lfs_unmount(&lfs);
}

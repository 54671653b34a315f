#include "carbontrack/sensor_protocols.h"

namespace carbontrack::proto {

uint8_t sensirion_crc8(const uint8_t* data, size_t len) {
    uint8_t crc = 0xFF;
    for (size_t i = 0; i < len; ++i) {
        crc ^= data[i];
        for (int b = 0; b < 8; ++b) crc = (crc & 0x80) ? static_cast<uint8_t>((crc << 1) ^ 0x31) : static_cast<uint8_t>(crc << 1);
    }
    return crc;
}

bool decode_sdp(const uint8_t frame[9], SdpMeasurement& out) {
    for (int w = 0; w < 3; ++w) {
        if (sensirion_crc8(frame + 3 * w, 2) != frame[3 * w + 2]) return false;
    }
    auto word = [&](int w) { return static_cast<int16_t>(static_cast<uint16_t>((frame[3 * w] << 8) | frame[3 * w + 1])); };
    int16_t scale = word(2);
    if (scale <= 0) return false;
    out.dp_pa = static_cast<double>(word(0)) / scale;
    out.temp_c = static_cast<double>(word(1)) / 200.0;
    return true;
}

uint16_t modbus_crc16(const uint8_t* data, size_t len) {
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; ++i) {
        crc ^= data[i];
        for (int b = 0; b < 8; ++b) crc = (crc & 1) ? static_cast<uint16_t>((crc >> 1) ^ 0xA001) : static_cast<uint16_t>(crc >> 1);
    }
    return crc;
}

namespace {
std::vector<uint8_t> frame4(uint8_t address, uint8_t function, uint16_t a, uint16_t b) {
    std::vector<uint8_t> f = {address, function, static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a),
                              static_cast<uint8_t>(b >> 8), static_cast<uint8_t>(b)};
    uint16_t crc = modbus_crc16(f.data(), f.size());
    f.push_back(static_cast<uint8_t>(crc));  // CRC low byte first
    f.push_back(static_cast<uint8_t>(crc >> 8));
    return f;
}
bool crc_ok(const uint8_t* frame, size_t len) {
    if (len < 4) return false;
    uint16_t crc = modbus_crc16(frame, len - 2);
    return frame[len - 2] == static_cast<uint8_t>(crc) && frame[len - 1] == static_cast<uint8_t>(crc >> 8);
}
}  // namespace

std::vector<uint8_t> modbus_read_input(uint8_t address, uint16_t reg, uint16_t count) {
    return frame4(address, 0x04, reg, count);
}

std::vector<uint8_t> modbus_write_single(uint8_t address, uint16_t reg, uint16_t value) {
    return frame4(address, 0x06, reg, value);
}

bool modbus_parse_read(const uint8_t* frame, size_t len, uint16_t count, std::vector<uint16_t>& regs) {
    if (len != 5u + 2u * count || !crc_ok(frame, len)) return false;
    if (frame[1] != 0x04 || frame[2] != 2 * count) return false;  // 0x84 = exception
    regs.clear();
    for (uint16_t i = 0; i < count; ++i) regs.push_back(static_cast<uint16_t>((frame[3 + 2 * i] << 8) | frame[4 + 2 * i]));
    return true;
}

bool modbus_write_echo_ok(const std::vector<uint8_t>& request, const uint8_t* frame, size_t len) {
    if (len != request.size()) return false;
    for (size_t i = 0; i < len; ++i) {
        if (frame[i] != request[i]) return false;
    }
    return true;
}

bool gss_parse(std::string_view line, char field, long& value) {
    size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size() || line[i] != field) return false;
    ++i;
    if (i >= line.size() || line[i] != ' ') return false;
    while (i < line.size() && line[i] == ' ') ++i;
    long v = 0;
    size_t digits = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i, ++digits) {
        if (v > 100000000L) return false;
        v = v * 10 + (line[i] - '0');
    }
    if (digits == 0) return false;
    while (i < line.size() && (line[i] == '\r' || line[i] == '\n' || line[i] == ' ')) ++i;
    // Streaming mode appends further fields (" z 01200"); only the requested first one is used.
    value = v;
    return true;
}

}  // namespace carbontrack::proto

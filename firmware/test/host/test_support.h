#pragma once

#include <fstream>
#include <sstream>
#include <string>

extern std::string g_golden_dir;

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

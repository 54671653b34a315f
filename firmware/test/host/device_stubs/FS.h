#pragma once
#include "Arduino.h"
namespace fs {
class File : public Stream {
  public:
    explicit operator bool() const;
    size_t size() const;
    bool seek(uint32_t pos);
    size_t read(uint8_t* buf, size_t size);
    int read() override;
    size_t write(const uint8_t* buf, size_t size) override;
    void flush();
    void close();
};
class FS {
  public:
    File open(const char* path, const char* mode = "r", const bool create = false);
    bool exists(const char* path);
    bool remove(const char* path);
};
}  // namespace fs
using fs::File;

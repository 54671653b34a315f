#include "carbontrack/json.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace carbontrack::json {

void append_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(ch);  // UTF-8 passes through unchanged
                }
        }
    }
    out.push_back('"');
}

void append_number(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[40];
    for (int precision : {15, 16, 17}) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    out += buf;
    if (std::strpbrk(buf, ".eE") == nullptr) out += ".0";
}

void append_int(std::string& out, int64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRId64, v);
    out += buf;
}

void append_uint(std::string& out, uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    out += buf;
}

const Value* Value::get(std::string_view key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& kv : object) {
        if (kv.first == key) return &kv.second;
    }
    return nullptr;
}

namespace {

class Parser {
  public:
    Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

    bool run(Value& out, std::string* error) {
        bool ok = value(out, 0);
        if (ok) {
            skip_ws();
            if (pos_ != s_.size()) ok = fail("trailing characters");
        }
        if (!ok && error) *error = error_ + " at offset " + std::to_string(pos_);
        return ok;
    }

  private:
    std::string_view s_;
    size_t pos_ = 0;
    int max_depth_;
    std::string error_;

    bool fail(const char* what) {
        if (error_.empty()) error_ = what;
        return false;
    }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    bool literal(const char* word) {
        size_t n = std::strlen(word);
        if (s_.substr(pos_, n) != word) return fail("invalid literal");
        pos_ += n;
        return true;
    }

    bool value(Value& out, int depth) {
        if (depth > max_depth_) return fail("nesting too deep");
        skip_ws();
        if (pos_ >= s_.size()) return fail("unexpected end");
        char c = s_[pos_];
        out = Value{};
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out.type = Value::Type::String;
            return string(out.string);
        }
        if (c == 't') {
            out.type = Value::Type::Bool;
            out.boolean = true;
            return literal("true");
        }
        if (c == 'f') {
            out.type = Value::Type::Bool;
            return literal("false");
        }
        if (c == 'n') return literal("null");
        return number(out);
    }

    bool object(Value& out, int depth) {
        out.type = Value::Type::Object;
        ++pos_;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected object key");
            std::string key;
            if (!string(key)) return false;
            if (out.get(key) != nullptr) return fail("duplicate key");
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':'");
            ++pos_;
            Value v;
            if (!value(v, depth + 1)) return false;
            out.object.emplace_back(std::move(key), std::move(v));
            skip_ws();
            if (pos_ >= s_.size()) return fail("unexpected end in object");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == '}') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool array(Value& out, int depth) {
        out.type = Value::Type::Array;
        ++pos_;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            Value v;
            if (!value(v, depth + 1)) return false;
            out.array.push_back(std::move(v));
            skip_ws();
            if (pos_ >= s_.size()) return fail("unexpected end in array");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == ']') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool hex4(uint32_t& cp) {
        if (pos_ + 4 > s_.size()) return fail("short \\u escape");
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex(s_[pos_++]);
            if (h < 0) return fail("bad \\u escape");
            cp = cp * 16 + static_cast<uint32_t>(h);
        }
        return true;
    }

    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    bool string(std::string& out) {
        ++pos_;  // opening quote
        while (pos_ < s_.size()) {
            char c = s_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ >= s_.size()) break;
            char e = s_[pos_++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    uint32_t cp;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
                        uint32_t lo;
                        if (s_.substr(pos_, 2) != "\\u") return fail("lone surrogate");
                        pos_ += 2;
                        if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return fail("lone surrogate");
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: return fail("bad escape");
            }
        }
        return fail("unterminated string");
    }

    bool number(Value& out) {
        size_t start = pos_;
        auto digits = [&] {
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            return pos_ - d;
        };
        bool integer = true;
        if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '0') {
            ++pos_;
        } else if (digits() == 0) {
            return fail("invalid value");
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            integer = false;
            if (digits() == 0) return fail("digits expected after '.'");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            integer = false;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (digits() == 0) return fail("digits expected in exponent");
        }
        std::string token(s_.substr(start, pos_ - start));
        errno = 0;
        double v = std::strtod(token.c_str(), nullptr);
        if (!std::isfinite(v)) return fail("number out of range");
        out.type = Value::Type::Number;
        out.number = v;
        out.integer_literal = integer;
        return true;
    }
};

std::string type_name(Value::Type t) {
    switch (t) {
        case Value::Type::Null: return "null";
        case Value::Type::Bool: return "bool";
        case Value::Type::Number: return "number";
        case Value::Type::String: return "string";
        case Value::Type::Array: return "array";
        case Value::Type::Object: return "object";
    }
    return "?";
}

bool mismatch(std::string* where, const std::string& path, const std::string& what) {
    if (where) *where = "$" + path + ": " + what;
    return false;
}

bool equal_at(const Value& a, const Value& b, const std::string& path, std::string* where) {
    if (a.type != b.type) return mismatch(where, path, type_name(a.type) + " vs " + type_name(b.type));
    switch (a.type) {
        case Value::Type::Null: return true;
        case Value::Type::Bool:
            return a.boolean == b.boolean || mismatch(where, path, "bool differs");
        case Value::Type::Number:
            if (a.integer_literal != b.integer_literal) return mismatch(where, path, "integer vs float literal");
            return a.number == b.number || mismatch(where, path, std::to_string(a.number) + " vs " + std::to_string(b.number));
        case Value::Type::String:
            return a.string == b.string || mismatch(where, path, "\"" + a.string + "\" vs \"" + b.string + "\"");
        case Value::Type::Array:
            if (a.array.size() != b.array.size()) return mismatch(where, path, "array length differs");
            for (size_t i = 0; i < a.array.size(); ++i) {
                if (!equal_at(a.array[i], b.array[i], path + "[" + std::to_string(i) + "]", where)) return false;
            }
            return true;
        case Value::Type::Object:
            if (a.object.size() != b.object.size()) return mismatch(where, path, "key count differs");
            for (const auto& kv : a.object) {
                const Value* other = b.get(kv.first);
                if (!other) return mismatch(where, path, "key '" + kv.first + "' missing");
                if (!equal_at(kv.second, *other, path + "." + kv.first, where)) return false;
            }
            return true;
    }
    return false;
}

}  // namespace

bool parse(std::string_view text, Value& out, std::string* error, int max_depth) {
    Parser p(text, max_depth);
    return p.run(out, error);
}

bool semantically_equal(const Value& a, const Value& b, std::string* where) {
    return equal_at(a, b, "", where);
}

}  // namespace carbontrack::json

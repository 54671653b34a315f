// Minimal JSON writer and reader for the sensor contract (docs/payload.md).
// Writer: numbers are printed so they parse back to the same double; strings are escaped.
// Reader: a small recursive-descent parser with a depth limit, for `cmd` messages and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carbontrack::json {

// Append `s` as a JSON string literal (quotes included); control characters become \u00XX.
void append_string(std::string& out, std::string_view s);

// Append a double that round-trips: the shortest of %.15g/%.16g/%.17g that strtod reads back
// exactly, with ".0" added to integral values so they stay floats (84100.0, like Python's repr).
// Non-finite values (NaN, inf) have no JSON form and are written as null.
void append_number(std::string& out, double v);

void append_int(std::string& out, int64_t v);
void append_uint(std::string& out, uint64_t v);

struct Value {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    bool integer_literal = false;  // the number was written without '.', 'e' or 'E'
    std::string string;
    std::vector<Value> array;
    std::vector<std::pair<std::string, Value>> object;  // in document order

    // Member `key` of an object, or nullptr.
    const Value* get(std::string_view key) const;
    bool is_number() const { return type == Type::Number; }
    bool is_string() const { return type == Type::String; }
    bool is_object() const { return type == Type::Object; }
    bool is_array() const { return type == Type::Array; }
};

// Parse a complete JSON text. Returns false (and a message in *error) on any syntax error,
// trailing garbage, duplicate object keys or nesting deeper than `max_depth`.
bool parse(std::string_view text, Value& out, std::string* error = nullptr, int max_depth = 32);

// Semantic equality: objects compare as key sets (order ignored), arrays element-wise, numbers
// by value and by kind (integer literal vs float), so 1043 != 1043.0 but 7.90 == 7.9.
bool semantically_equal(const Value& a, const Value& b, std::string* where = nullptr);

}  // namespace carbontrack::json

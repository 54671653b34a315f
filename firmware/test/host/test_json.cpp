#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>

#include "carbontrack/json.h"

using namespace carbontrack;

static std::string num(double v) {
    std::string s;
    json::append_number(s, v);
    return s;
}

TEST_CASE("numbers print like Python's repr and round-trip") {
    CHECK(num(84100.0) == "84100.0");
    CHECK(num(186.4) == "186.4");
    CHECK(num(7.85) == "7.85");
    CHECK(num(1764331200.0) == "1764331200.0");
    CHECK(num(1764331200.123) == "1764331200.123");
    CHECK(num(0.1 + 0.2) == "0.30000000000000004");
    CHECK(num(-40.0) == "-40.0");
    CHECK(num(0.0) == "0.0");
    CHECK(num(1e-7) == "1e-07");
    CHECK(num(NAN) == "null");
    CHECK(num(INFINITY) == "null");
    for (double v : {83950.5, 0.001, 123456.789, 1.0 / 3.0, 2.0 / 3.0 * 1e5, 79655.0, 6.02214076e23}) {
        CHECK(std::strtod(num(v).c_str(), nullptr) == v);
    }
}

TEST_CASE("strings are escaped") {
    std::string s;
    json::append_string(s, "a\"b\\c\n\t\x01 é");
    CHECK(s == "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
    json::Value v;
    REQUIRE(json::parse(s, v));
    CHECK(v.string == "a\"b\\c\n\t\x01 é");
}

TEST_CASE("parser reads objects, arrays, literals and escapes") {
    json::Value v;
    std::string err;
    REQUIRE(json::parse(R"( {"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "\u00e9\ud83d\ude00"}} )", v, &err));
    REQUIRE(v.is_object());
    const json::Value* a = v.get("a");
    REQUIRE(a);
    REQUIRE(a->array.size() == 6);
    CHECK(a->array[0].integer_literal);
    CHECK_FALSE(a->array[1].integer_literal);
    CHECK(a->array[2].number == -300.0);
    CHECK(a->array[3].boolean);
    CHECK(a->array[5].type == json::Value::Type::Null);
    CHECK(v.get("b")->get("c")->string == "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("parser rejects malformed input") {
    json::Value v;
    for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"abc", "{} x",
                            "{\"a\":1,\"a\":2}", "\"\\x\"", "\"\\ud800\"", "[1e]", "\"a\nb\""}) {
        CAPTURE(bad);
        CHECK_FALSE(json::parse(bad, v));
    }
    CHECK_FALSE(json::parse("[[[[1]]]]", v, nullptr, 2));
    CHECK(json::parse("[[[[1]]]]", v, nullptr, 4));
}

TEST_CASE("semantic equality ignores key order and spacing but not values or kinds") {
    json::Value a, b;
    REQUIRE(json::parse(R"({"x": 1, "y": [1.5, "s"]})", a));
    REQUIRE(json::parse(R"({"y":[1.50,"s"],"x":1})", b));
    CHECK(json::semantically_equal(a, b));
    std::string where;
    REQUIRE(json::parse(R"({"x": 1.0, "y": [1.5, "s"]})", b));
    CHECK_FALSE(json::semantically_equal(a, b, &where));
    CHECK(where == "$.x: integer vs float literal");
    REQUIRE(json::parse(R"({"x": 1, "y": [1.5, "t"]})", b));
    CHECK_FALSE(json::semantically_equal(a, b));
    REQUIRE(json::parse(R"({"x": 1, "y": [1.5, "s"], "z": 0})", b));
    CHECK_FALSE(json::semantically_equal(a, b));
}

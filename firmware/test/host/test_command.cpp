#include <doctest/doctest.h>

#include <string>

#include "carbontrack/command.h"

using namespace carbontrack;

static const std::string kSha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

TEST_CASE("ota command with https URL and sha256") {
    Command c = parse_command(R"({"cmd": "ota", "url": "https://fw.example/ct-1.1.0.bin", "sha256": ")" +
                              std::string("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08") +
                              R"(", "version": "1.1.0"})");
    REQUIRE(c.type == Command::Type::Ota);
    CHECK(c.url == "https://fw.example/ct-1.1.0.bin");
    CHECK(c.sha256 == kSha);
    CHECK(c.version == "1.1.0");
}

TEST_CASE("ota is refused over http or without a proper hash") {
    CHECK(parse_command(R"({"cmd":"ota","url":"http://fw.example/x.bin","sha256":")" + kSha + "\"}").type ==
          Command::Type::Invalid);
    CHECK(parse_command(R"({"cmd":"ota","url":"https://fw.example/x.bin","sha256":"abc"})").type ==
          Command::Type::Invalid);
    CHECK(parse_command(R"({"cmd":"ota","url":"https://fw.example/x.bin"})").type == Command::Type::Invalid);
}

TEST_CASE("simple commands") {
    CHECK(parse_command(R"({"cmd":"reboot"})").type == Command::Type::Reboot);
    CHECK(parse_command(R"({"cmd":"abc_off"})").type == Command::Type::AbcOff);
    CHECK(parse_command(R"({"cmd":"calibrate","kind":"zero"})").type == Command::Type::CalibrateZero);
    Command span = parse_command(R"({"cmd":"calibrate","kind":"span","ppm":150000})");
    REQUIRE(span.type == Command::Type::CalibrateSpan);
    CHECK(span.ppm == 150000.0);
    CHECK(parse_command(R"({"cmd":"calibrate","kind":"span","ppm":400000})").type == Command::Type::Invalid);
    CHECK(parse_command(R"({"cmd":"calibrate","kind":"span"})").type == Command::Type::Invalid);
}

TEST_CASE("set only touches whitelisted keys") {
    Command c = parse_command(R"({"cmd":"set","key":"interval_s","value":120})");
    REQUIRE(c.type == Command::Type::Set);
    CHECK(c.key == "interval_s");
    CHECK(c.value == "120.0");
    CHECK(parse_command(R"({"cmd":"set","key":"mqtt_pass","value":1})").type == Command::Type::Invalid);
    CHECK(parse_command(R"({"cmd":"set","key":"interval_s","value":"x"})").type == Command::Type::Invalid);
}

TEST_CASE("garbage is rejected with a reason") {
    for (const char* bad : {"", "not json", "[]", "{}", R"({"cmd":5})", R"({"cmd":"selfdestruct"})"}) {
        CAPTURE(bad);
        Command c = parse_command(bad);
        CHECK(c.type == Command::Type::Invalid);
        CHECK_FALSE(c.error.empty());
    }
    CHECK(parse_command(std::string(3000, ' ')).type == Command::Type::Invalid);
    CHECK(parse_command(R"({"cmd":"reboot","x":[[[[[[[[[[1]]]]]]]]]]})").type == Command::Type::Invalid);
}

TEST_CASE("sha256 hex check") {
    CHECK(is_sha256_hex(kSha));
    CHECK_FALSE(is_sha256_hex(kSha.substr(1)));
    CHECK_FALSE(is_sha256_hex(std::string(64, 'g')));
}

TEST_CASE("console lines") {
    ConsoleLine l = parse_console_line("  set wifi_ssid  Kagwe Factory WiFi \r\n");
    CHECK(l.verb == "set");
    CHECK(l.key == "wifi_ssid");
    CHECK(l.value == "Kagwe Factory WiFi");
    l = parse_console_line("show");
    CHECK(l.verb == "show");
    CHECK(l.key.empty());
    CHECK(l.value.empty());
    l = parse_console_line("");
    CHECK(l.verb.empty());
}

TEST_CASE("status command asks the node to publish its health status now, with the server's id") {
    Command c = parse_command(R"({"id": "c-7", "cmd": "status"})");
    CHECK(c.type == Command::Type::Status);
    CHECK(c.id == "c-7");
    CHECK(parse_command(R"({"cmd": "statuses"})").type == Command::Type::Invalid);
}

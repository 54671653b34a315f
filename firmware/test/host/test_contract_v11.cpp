// Contract v1.1 pieces other than telemetry: status JSON, ack, command id and result, topics.
#include <doctest/doctest.h>

#include <string>

#include "carbontrack/command.h"
#include "carbontrack/config.h"
#include "carbontrack/json.h"
#include "carbontrack/status.h"
#include "test_support.h"

using namespace carbontrack;

TEST_CASE("golden v1.1: status JSON with reset reason, heap and counters") {
    NodeStatus s;
    s.state = "online";
    s.fw = "1.1.0";
    s.reset_reason = reset_reason_name(1);  // ESP_RST_POWERON
    s.free_heap = 123456;
    s.min_free_heap = 100000;
    s.safe_mode = false;
    json::Value golden, ours;
    std::string err;
    REQUIRE_MESSAGE(json::parse(read_text_file(g_golden_dir + "/status_v11_online.json"), golden, &err), err);
    REQUIRE(json::parse(encode_status(s), ours, &err));
    std::string where;
    CHECK_MESSAGE(json::semantically_equal(ours, golden, &where), where << "\n" << encode_status(s));
    s.counters.corrupt = 1;  // one counter off: the comparison notices
    REQUIRE(json::parse(encode_status(s), ours));
    CHECK_FALSE(json::semantically_equal(ours, golden));
}

TEST_CASE("reset reason names follow ESP-IDF's esp_reset_reason_t order") {
    CHECK(std::string(reset_reason_name(0)) == "UNKNOWN");
    CHECK(std::string(reset_reason_name(3)) == "SW");
    CHECK(std::string(reset_reason_name(4)) == "PANIC");
    CHECK(std::string(reset_reason_name(6)) == "TASK_WDT");
    CHECK(std::string(reset_reason_name(9)) == "BROWNOUT");
    CHECK(std::string(reset_reason_name(42)) == "UNKNOWN");
}

TEST_CASE("golden v1.1: the ack example parses to seq 1041 and the server time") {
    Ack a;
    REQUIRE(parse_ack(read_text_file(g_golden_dir + "/ack_example.json"), a));
    CHECK(a.seq == 1041);
    CHECK(a.has_ts);
    CHECK(a.ts == 1764331260.5);
}

TEST_CASE("ack: malformed or hostile acks are refused") {
    Ack a;
    CHECK(parse_ack(R"({"seq": 7})", a));
    CHECK(a.seq == 7);
    CHECK_FALSE(a.has_ts);
    for (const char* bad : {R"({"seq": -1})", R"({"seq": 1.5})", R"({"seq": "7"})", R"({"ts": 1.0})", "[]", "",
                            R"({"seq": 7, "ts": "now"})", R"({"seq": 7, "ts": null})", "{\"seq\": 7", "nonsense"}) {
        CHECK_MESSAGE(!parse_ack(bad, a), bad);
    }
}

TEST_CASE("commands: v1.1 id and args object; v1 top-level form still works; result JSON") {
    Command c = parse_command(R"({"id": "c-123", "cmd": "set", "args": {"key": "interval_s", "value": 60}})");
    REQUIRE(c.type == Command::Type::Set);
    CHECK(c.id == "c-123");
    CHECK(c.key == "interval_s");
    CHECK(c.value == "60.0");
    Command v1 = parse_command(R"({"cmd": "set", "key": "interval_s", "value": 60})");
    CHECK(v1.type == Command::Type::Set);
    CHECK(v1.id.empty());
    Command bad = parse_command(R"({"id": "c-9", "cmd": "set", "args": {"key": "wifi_pass", "value": 1}})");
    CHECK(bad.type == Command::Type::Invalid);
    CHECK(bad.id == "c-9");  // the refusal can still be reported against the command

    json::Value v;
    REQUIRE(json::parse(encode_command_result("c-123", true, "set interval_s = 60 (applies after reboot)"), v));
    CHECK(v.get("id")->string == "c-123");
    CHECK(v.get("ok")->type == json::Value::Type::Bool);
    CHECK(v.get("ok")->boolean);
    CHECK(v.get("detail")->string == "set interval_s = 60 (applies after reboot)");
    REQUIRE(json::parse(encode_command_result("we\"ird", false, "line\nbreak"), v));
    CHECK_FALSE(v.get("ok")->boolean);
    CHECK(v.get("id")->string == "we\"ird");
    CHECK(v.get("detail")->string == "line\nbreak");
}

TEST_CASE("topics of contract v1.1") {
    NodeConfig cfg;
    cfg.topic_prefix = "carbontrack/v1";
    cfg.factory_code = "KGW";
    cfg.device_id = "KGW-S1";
    CHECK(topic(cfg, TopicKind::Ack) == "carbontrack/v1/KGW/KGW-S1/ack");
    CHECK(topic(cfg, TopicKind::CmdResult) == "carbontrack/v1/KGW/KGW-S1/cmd/result");
    CHECK(topic(cfg, TopicKind::Status) == "carbontrack/v1/KGW/KGW-S1/status");
}

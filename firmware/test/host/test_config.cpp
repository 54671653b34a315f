#include <doctest/doctest.h>

#include <algorithm>

#include "carbontrack/config.h"

using namespace carbontrack;

namespace {
NodeConfig good() {
    NodeConfig c;
    c.device_id = "KGW-S1";
    c.factory_code = "KGW";
    c.broker_url = "mqtts://mqtt.carbontrack.example:8883";
    c.mqtt_username = "KGW-S1";
    c.mqtt_password = "secret";
    c.wifi_ssid = "factory";
    return c;
}

bool has_error(const NodeConfig& c, const std::string& start) {
    auto errs = validate(c);
    return std::any_of(errs.begin(), errs.end(), [&](const std::string& e) { return e.rfind(start, 0) == 0; });
}
}  // namespace

TEST_CASE("a complete configuration validates") {
    CHECK(validate(good()).empty());
}

TEST_CASE("topics: <prefix>/<factory>/<device>/telemetry|status|cmd") {
    NodeConfig c = good();
    CHECK(topic(c, TopicKind::Telemetry) == "carbontrack/v1/KGW/KGW-S1/telemetry");
    CHECK(topic(c, TopicKind::Status) == "carbontrack/v1/KGW/KGW-S1/status");
    CHECK(topic(c, TopicKind::Cmd) == "carbontrack/v1/KGW/KGW-S1/cmd");
}

TEST_CASE("identifiers must be usable as one topic level") {
    NodeConfig c = good();
    for (const char* bad : {"", "a/b", "a+b", "a#", "has space", "x\"y"}) {
        c.device_id = bad;
        CAPTURE(bad);
        CHECK(has_error(c, "device_id"));
    }
    c = good();
    c.factory_code = "WAYTOOLONGFACTORYCODE";
    CHECK(has_error(c, "factory_code"));
    c = good();
    c.device_id = std::string(41, 'A');
    CHECK(has_error(c, "device_id"));
}

TEST_CASE("topic prefix") {
    NodeConfig c = good();
    for (const char* bad : {"", "/carbontrack", "carbontrack/", "a//b", "a/+/b", "a/#", "$SYS"}) {
        c.topic_prefix = bad;
        CAPTURE(bad);
        CHECK(has_error(c, "topic_prefix"));
    }
    c.topic_prefix = "cttest/ab12cd34";
    CHECK(validate(c).empty());
}

TEST_CASE("broker URL parsing") {
    BrokerUrl u;
    std::string err;
    REQUIRE(parse_broker_url("mqtts://broker.example", u));
    CHECK(u.tls);
    CHECK(u.port == 8883);
    CHECK(u.host == "broker.example");
    REQUIRE(parse_broker_url("mqtt://10.0.0.5:1884/", u));
    CHECK_FALSE(u.tls);
    CHECK(u.port == 1884);
    CHECK(u.host == "10.0.0.5");
    CHECK_FALSE(parse_broker_url("http://x", u, &err));
    CHECK_FALSE(parse_broker_url("mqtt://user:pw@host", u, &err));
    CHECK(err.find("credentials") != std::string::npos);
    CHECK_FALSE(parse_broker_url("mqtt://host:0", u));
    CHECK_FALSE(parse_broker_url("mqtt://host:99999", u));
    CHECK_FALSE(parse_broker_url("mqtt://host:12ab", u));
    CHECK_FALSE(parse_broker_url("mqtt://", u));
    CHECK_FALSE(parse_broker_url("mqtt://host/path", u));
}

TEST_CASE("numeric ranges") {
    NodeConfig c = good();
    c.publish_interval_s = 5;
    CHECK(has_error(c, "interval_s"));
    c = good();
    c.sample_period_s = 120;
    CHECK(has_error(c, "sample_s"));
    c = good();
    c.velocity_profile_factor = 0.0;
    CHECK(has_error(c, "profile_factor"));
    c = good();
    c.pitot_coefficient = 2.0;
    CHECK(has_error(c, "pitot_cp"));
    c = good();
    c.max_payload_bytes = 70000;
    CHECK(has_error(c, "max_payload"));
    c = good();
    c.moisture_fraction = 0.7;
    CHECK(has_error(c, "moisture"));
    c = good();
    c.mqtt_password = "";
    CHECK(has_error(c, "mqtt_user"));
    c = good();
    c.broker_url = "tcp://x";
    CHECK(has_error(c, "broker_url"));
}

TEST_CASE("every config key round-trips through its text form") {
    NodeConfig c = good();
    for (const auto& key : config_keys()) {
        CAPTURE(key);
        CHECK(key.size() <= 15);  // NVS key length limit
        NodeConfig copy;
        std::string err;
        CHECK(set_config_value(copy, key, get_config_value(c, key, true), &err));
        CHECK(get_config_value(copy, key, true) == get_config_value(c, key, true));
    }
}

TEST_CASE("set_config_value parses and rejects") {
    NodeConfig c = good();
    std::string err;
    CHECK(set_config_value(c, "interval_s", "120.0", &err));  // as sent by a `set` command
    CHECK(c.publish_interval_s == 120);
    CHECK(set_config_value(c, "pitot_cp", "0.99"));
    CHECK(c.pitot_coefficient == 0.99);
    CHECK(set_config_value(c, "dry_basis", "false"));
    CHECK_FALSE(c.co2_dry_basis);
    CHECK_FALSE(set_config_value(c, "interval_s", "-5", &err));
    CHECK_FALSE(set_config_value(c, "interval_s", "1.5", &err));
    CHECK_FALSE(set_config_value(c, "pitot_cp", "abc", &err));
    CHECK(err == "pitot_cp: not a number");
    CHECK_FALSE(set_config_value(c, "dry_basis", "maybe"));
    CHECK_FALSE(set_config_value(c, "nonsense", "1", &err));
    CHECK(err == "nonsense: unknown key");
}

TEST_CASE("secrets are masked unless asked for") {
    NodeConfig c = good();
    CHECK(get_config_value(c, "mqtt_pass") == "********");
    CHECK(get_config_value(c, "mqtt_pass", true) == "secret");
    c.wifi_password = "";
    CHECK(get_config_value(c, "wifi_pass").empty());
}

TEST_CASE("node caps: a stored max_payload above 16 KiB is lowered at load, and refused by validate") {
    NodeConfig c;
    c.max_payload_bytes = 65536;  // allowed by firmware 1.0
    CHECK(has_error(c, "max_payload"));
    apply_node_caps(c);
    CHECK(c.max_payload_bytes == 16384);
    CHECK_FALSE(has_error(c, "max_payload"));
}

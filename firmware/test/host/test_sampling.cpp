#include <doctest/doctest.h>

#include <cmath>

#include "carbontrack/sampling.h"

using namespace carbontrack;

TEST_CASE("channel: mean, min, max and count of valid samples") {
    Channel c(kFlueTempRangeC, 30);
    for (double v : {180.0, 190.0, 185.0}) c.add(v);
    ChannelSummary s = c.finish(3);
    CHECK(s.n_valid == 3);
    CHECK(s.mean == doctest::Approx(185.0));
    CHECK(s.min == 180.0);
    CHECK(s.max == 190.0);
    CHECK(s.flags == 0);
    // finish() starts a new interval
    c.add(200.0);
    CHECK(c.finish(1).mean == 200.0);
}

TEST_CASE("channel: an out-of-range sample is excluded; the reading stays valid (not flagged)") {
    Channel c(kFlueTempRangeC, 30);
    c.add(180.0);
    c.add(1200.0);  // thermocouple open circuit reads very high
    c.add(190.0);
    ChannelSummary s = c.finish(3);
    CHECK(s.n_valid == 2);
    CHECK(s.n_invalid == 1);
    CHECK(s.mean == doctest::Approx(185.0));
    CHECK(s.flags == 0);
}

TEST_CASE("channel: nothing plausible → raw mean, flagged, so the server stores it invalid") {
    Channel c(kCo2RangePpm, 30);
    c.add(-500.0);
    c.add(-300.0);
    ChannelSummary s = c.finish(2);
    CHECK(s.has_value());
    CHECK(s.mean == doctest::Approx(-400.0));
    CHECK((s.flags & kFlagNoValid));
    CHECK((s.flags & kFlagOutOfRange));
}

TEST_CASE("channel: missing samples") {
    Channel c(kCo2RangePpm, 30);
    c.add(NAN);
    c.add(NAN);
    c.add(84000.0);
    ChannelSummary s = c.finish(30);
    CHECK(s.n_missing == 2);
    CHECK(s.n_valid == 1);
    CHECK((s.flags & kFlagMissing));
    CHECK(s.mean == 84000.0);
    ChannelSummary none = c.finish(30);
    CHECK_FALSE(none.has_value());
    CHECK((none.flags & kFlagMissing));
}

TEST_CASE("channel: stuck value detected, also across intervals") {
    Channel c(kCo2RangePpm, 5);
    for (int i = 0; i < 3; ++i) c.add(84000.0);
    CHECK((c.finish(3).flags & kFlagStuck) == 0);
    for (int i = 0; i < 3; ++i) c.add(84000.0);
    CHECK((c.finish(3).flags & kFlagStuck));
    c.add(84001.0);
    CHECK((c.finish(1).flags & kFlagStuck) == 0);
}

TEST_CASE("plausibility ranges from the issue") {
    CHECK(kCo2RangePpm.contains(0.0));
    CHECK(kCo2RangePpm.contains(300000.0));
    CHECK_FALSE(kCo2RangePpm.contains(300000.1));
    CHECK(kFlueTempRangeC.contains(-40.0));
    CHECK_FALSE(kFlueTempRangeC.contains(600.5));
    CHECK_FALSE(kVelocityRangeMS.contains(40.01));
    CHECK_FALSE(kPressureRangePa.contains(49999.0));
    CHECK(kPressureRangePa.contains(110000.0));
}

TEST_CASE("aggregator: velocity per sample, averaged; pressure optional") {
    AggregatorSettings set;
    set.pitot_coefficient = 1.0;
    set.site_pressure_pa = 80000.0;
    IntervalAggregator agg(set);
    double m = flow::stack_molar_mass_g_mol(84000.0, set.gas);
    double rho = flow::gas_density_kg_m3(80000.0, 190.0, m);
    agg.add({84000.0, 190.0, 20.0, NAN});
    agg.add({84000.0, 190.0, 80.0, NAN});
    IntervalResult r = agg.finish(2);
    REQUIRE(r.has_reading);
    double expected = 0.5 * (std::sqrt(2 * 20.0 / rho) + std::sqrt(2 * 80.0 / rho));
    CHECK(r.reading.velocity_m_s == doctest::Approx(expected));
    CHECK(r.reading.velocity_m_s < std::sqrt(2 * 50.0 / rho));  // not sqrt of the mean Δp
    CHECK_FALSE(r.reading.has_pressure());
    CHECK(r.flags == 0);
}

TEST_CASE("aggregator: measured pressure is published and used for density") {
    AggregatorSettings set;
    IntervalAggregator agg(set);
    agg.add({84000.0, 190.0, 50.0, 79000.0});
    agg.add({84000.0, 190.0, 50.0, 79100.0});
    IntervalResult r = agg.finish(2);
    REQUIRE(r.has_reading);
    CHECK(r.reading.pressure_pa == doctest::Approx(79050.0));
    double rho = flow::gas_density_kg_m3(79000.0, 190.0, flow::stack_molar_mass_g_mol(84000.0, set.gas));
    CHECK(r.velocity.max == doctest::Approx(0.84 * std::sqrt(100.0 / rho)));  // lower p → lighter gas → faster
}

TEST_CASE("aggregator: no reading without samples; reverse flow flagged") {
    IntervalAggregator agg{AggregatorSettings{}};
    CHECK_FALSE(agg.finish(30).has_reading);
    agg.add({84000.0, NAN, 50.0, NAN});  // thermocouple fault: no temp, no velocity
    IntervalResult r = agg.finish(1);
    CHECK_FALSE(r.has_reading);
    agg.add({84000.0, 190.0, -8.0, NAN});
    r = agg.finish(1);
    REQUIRE(r.has_reading);
    CHECK(r.reading.velocity_m_s == 0.0);
    CHECK((r.flags & kFlagReverseFlow));
}

TEST_CASE("round_for_publish keeps published values short and exact") {
    Reading r;
    r.co2_ppm = 84133.333333;
    r.flue_temp_c = 186.40000001;
    r.velocity_m_s = 7.91234;
    r.pressure_pa = 79650.04;
    Reading p = round_for_publish(r);
    CHECK(p.co2_ppm == 84133.3);
    CHECK(p.flue_temp_c == 186.4);
    CHECK(p.velocity_m_s == 7.912);
    CHECK(p.pressure_pa == 79650.0);
    r.pressure_pa = NAN;
    CHECK_FALSE(round_for_publish(r).has_pressure());
}

TEST_CASE("aggregator: driver flags (sensor fault, warm-up) reach the reading; dp_pa is the mean raw Δp") {
    IntervalAggregator agg{AggregatorSettings{}};
    Sample a{84000.0, 190.0, 30.0, NAN};
    Sample b{84000.0, NAN, 32.5, NAN};  // thermocouple fault on this sample
    b.flags = kFlagSensorFault;
    agg.add(a);
    agg.add(b);
    IntervalResult r = agg.finish(2);
    REQUIRE(r.has_reading);
    CHECK((r.flags & kFlagSensorFault));
    CHECK(r.reading.dp_pa == doctest::Approx(31.25));
    CHECK(round_for_publish(r.reading).dp_pa == 31.25);
    Sample w{400.0, 25.0, 0.0, NAN};
    w.flags = kFlagWarmup;
    agg.add(w);
    r = agg.finish(1);
    REQUIRE(r.has_reading);
    CHECK(r.flags == kFlagWarmup);  // flags do not leak from the previous interval
    CHECK((r.flags & kInvalidatingFlags));
}

TEST_CASE("aggregator: a CO2 value that is all out of range is kept, flagged OUT_OF_RANGE and NO_VALID") {
    IntervalAggregator agg{AggregatorSettings{}};
    agg.add({350000.0, 190.0, 30.0, NAN});  // above the 0-30 % range
    IntervalResult r = agg.finish(1);
    REQUIRE(r.has_reading);
    CHECK(r.reading.co2_ppm == 350000.0);
    CHECK((r.flags & kFlagOutOfRange));
    CHECK((r.flags & kFlagNoValid));
}

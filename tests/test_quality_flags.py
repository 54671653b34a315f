"""Server quality checks through the listener into PostgreSQL: flat line, spike, low velocity, range.

Each expected flag is written out by hand from the thresholds' definitions (docs/qaqc.md), not
computed by mqtt_listener/qa.py; rollups must count only the readings left valid.
"""

from __future__ import annotations

import math
import time
import uuid

import pytest
import sqlalchemy as sa
from ingest_helpers import (
    Publisher,
    count_readings,
    make_config,
    reading,
    seed_fleet,
    telemetry,
    topic,
    wait_until,
)
from test_listener import assert_rollups_match_recompute

from core.config import ConfigError, load_config
from core.db import make_engine, make_session_factory
from core.models import (
    QA_FLATLINE,
    QA_LOW_VELOCITY,
    QA_RANGE,
    QA_SPIKE,
    QUALITY_INVALID,
    QUALITY_VALID,
    DeviceHourly,
    Reading,
)
from mqtt_listener import Listener


@pytest.fixture
def pg_session(pg_url):  # noqa: ANN001, ANN201
    engine = make_engine(pg_url)
    yield pg_url, make_session_factory(engine)
    engine.dispose()


def _listen(url: str, Session, prefix: str, mosquitto, **settings) -> Listener:  # noqa: ANN001, N803
    cfg = make_config(url, prefix, *mosquitto, **settings)
    lst = Listener(cfg, Session, client_id=f"qa-{uuid.uuid4().hex[:8]}", protocol="5")
    lst.start()
    assert lst.wait_connected(10)
    return lst


def _stored(Session) -> list[Reading]:  # noqa: N803
    with Session() as s:
        return list(s.scalars(sa.select(Reading).order_by(Reading.ts)))


def test_flat_line_spike_low_velocity_and_range_are_flagged_and_left_out(pg_session, mosquitto, topic_prefix):
    url, Session = pg_session  # noqa: N806
    node = seed_fleet(Session, n_factories=1)[0]
    t0 = math.floor(time.time() / 3600) * 3600 - 6 * 3600  # whole hours, six hours ago
    plan: list[tuple[dict, int]] = []  # (reading fields, expected server flags)

    def add(co2: float, expected: int, vel: float | None = None) -> None:
        # Velocity varies a little, as a live one does (a constant one would be a flat line too).
        plan.append((dict(co2_ppm=co2, vel=7.9 + 0.01 * len(plan) if vel is None else vel), expected))

    for i in range(10):
        add(84_500.0 + 10 * i, 0)  # a live sensor: every value different
    for k in range(7):  # stuck at 90,000 ppm: readings 1-4 of the run look like a steady stack,
        add(90_000.0, QA_FLATLINE if k >= 4 else 0)  # the 5th and later are flagged (N = 5)
    add(85_000.0, 0)  # 5,000 ppm in 60 s: 83 ppm/s, below the 1,000 ppm/s limit
    add(250_000.0, QA_SPIKE)  # +165,000 ppm in 60 s = 2,750 ppm/s
    add(85_100.0, 0)  # compared with the last good value (85,000, 120 s before): fine
    add(85_200.0, QA_LOW_VELOCITY, vel=1.5)  # below the 3 m/s minimum
    add(500_000.0, QA_RANGE | QA_SPIKE)  # outside 0..300,000 ppm, and a jump
    add(85_300.0, 0)
    add(160_000.0, QA_SPIKE)  # a step up: 74,700 ppm in 60 s
    add(160_100.0, 0)  # agrees with the step: the level moved, so this one is valid again
    add(160_300.0, 0)

    lst = _listen(url, Session, topic_prefix, mosquitto, qa_flatline_samples=5)
    pub = Publisher(*mosquitto)
    try:
        readings = [reading(t0 + 60 * i, seq=i, co2_ppm=f["co2_ppm"], vel=f["vel"]) for i, (f, _) in enumerate(plan)]
        for k in range(0, len(readings), 4):  # several messages, in order
            pub.publish(topic(topic_prefix, node), telemetry(node.device_id, readings[k:k + 4]))
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == len(plan), 20)
        assert lst.wait_idle(10)
    finally:
        pub.close()
        lst.stop()

    stored = _stored(Session)
    assert [r.server_flags for r in stored] == [e for _, e in plan]
    for r, (_, expected) in zip(stored, plan, strict=True):
        assert r.quality == (QUALITY_INVALID if expected else QUALITY_VALID)
        if expected & (QA_FLATLINE | QA_SPIKE | QA_LOW_VELOCITY):
            assert "server check" in r.quality_reason
    n_valid = sum(1 for _, e in plan if not e)
    with Session() as s:
        hours = list(s.scalars(sa.select(DeviceHourly)))
    assert sum(h.n_readings for h in hours) == len(plan)
    assert sum(h.n_valid for h in hours) == n_valid
    # 60 s apart, 60 s interval: each valid reading covers 60 s; invalid ones nothing.
    assert sum(h.covered_s for h in hours) == pytest.approx(60.0 * n_valid)
    valid_kg = sum(r.co2_kg_s * 60.0 for r in stored if r.quality == QUALITY_VALID)
    assert sum(h.co2_kg for h in hours) == pytest.approx(valid_kg)
    assert_rollups_match_recompute(Session)


def test_a_restarted_listener_seeds_its_window_from_the_database(pg_session, mosquitto, topic_prefix):
    """Three stuck readings, restart, two more: the fifth of the run is flagged although this listener saw two."""
    url, Session = pg_session  # noqa: N806
    node = seed_fleet(Session, n_factories=1)[0]
    t0 = math.floor(time.time() / 3600) * 3600 - 3 * 3600
    pub = Publisher(*mosquitto)
    try:
        for first, n in ((0, 3), (3, 2)):
            lst = _listen(url, Session, topic_prefix, mosquitto, qa_flatline_samples=5)
            try:
                pub.publish(topic(topic_prefix, node), telemetry(
                    node.device_id, [reading(t0 + 60 * i, seq=i, co2_ppm=91_000.0) for i in range(first, first + n)]))
                pub.wait_all()
                assert wait_until(lambda: count_readings(Session) == first + n, 20)  # noqa: B023
                assert lst.wait_idle(10)
            finally:
                lst.stop()
    finally:
        pub.close()
    assert [r.server_flags for r in _stored(Session)] == [0, 0, 0, 0, QA_FLATLINE]


@pytest.mark.parametrize(("name", "value"), [
    ("CARBONTRACK_QA_FLATLINE_SAMPLES", "1"),
    ("CARBONTRACK_QA_FLATLINE_SAMPLES", "2.5"),
    ("CARBONTRACK_QA_SPIKE_CO2_PPM_PER_S", "-1"),
    ("CARBONTRACK_QA_MIN_VELOCITY_M_S", "nan"),
    ("CARBONTRACK_QA_MIN_VELOCITY_M_S", "fast"),
])
def test_bad_thresholds_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_thresholds_default_and_override() -> None:
    cfg = load_config({})
    assert (cfg.qa_flatline_samples, cfg.qa_spike_co2_ppm_per_s, cfg.qa_min_velocity_m_s) == (5, 1000.0, 3.0)
    cfg = load_config({"CARBONTRACK_QA_FLATLINE_SAMPLES": "0", "CARBONTRACK_QA_MIN_VELOCITY_M_S": "2"})
    assert (cfg.qa_flatline_samples, cfg.qa_min_velocity_m_s) == (0, 2.0)

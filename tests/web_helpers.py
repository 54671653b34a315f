"""A small database for the web tests: three factories, stacks, nodes, readings, rollups, months, users.

Built directly (no demo loader) so each test gets a fresh database in well under a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.users import create_user
from core.config import Config
from core.inventory.factors import seed_factors
from core.models import (
    STATUS_APPROVED,
    STATUS_SUBMITTED,
    Device,
    DeviceDaily,
    DeviceHourly,
    EnergyEntry,
    Factory,
    FactoryDaily,
    FactoryHourly,
    ListenerStat,
    MonthlySubmission,
    Reading,
    Stack,
)
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

PASSWORDS = {"admin": "admin-pass-1", "hq": "hq-pass-1", "auditor": "auditor-pass-1",
             "kagwe": "kagwe-pass-1", "mataara": "mataara-pass-1"}
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)  # 12:30 EAT


@dataclass
class Fixture:
    factory_ids: dict[str, int]  # code -> id
    device_ids: dict[str, str]  # code -> device id
    now: datetime


def build_small_db(Session: sessionmaker[Session], now: datetime = NOW, months: int = 13,  # noqa: N803
                   readings: bool = True) -> Fixture:
    """Fill an empty migrated database with three factories and their data around `now`."""
    factory_ids: dict[str, int] = {}
    device_ids: dict[str, str] = {}
    today = local_date(now, DEFAULT_TZ)
    this_month = month_start(today)
    with Session() as s:
        seed_factors(s)
        specs = [("KGW", "Kagwe", 1, -0.99, 36.64, 2150, 1.6), ("MTR", "Mataara", 1, -0.93, 36.76, 2000, 1.4),
                 ("CHG", "Chinga", 2, -0.40, 36.95, 1900, 1.5)]
        for k, (code, name, region, lat, lon, alt, target) in enumerate(specs):
            f = Factory(code=code, name=name, region=region, county="Kiambu", latitude=lat, longitude=lon,
                        altitude_m=alt, target_kg_co2e_per_kg=target,
                        # 367 kg/m³ x IPCC 15.6 MJ/kg ≈ 450 kg/m³ x 12.71 MJ/kg (30 % moisture under the
                        # retailer-derived correction this fixture was sized with): the fuel log still
                        # matches the stack rollups below (issue 14 made 15.6 the default).
                        firewood_density_kg_m3=367.0)
            s.add(f)
            s.flush()
            factory_ids[code] = f.id
            st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=1.0)
            s.add(st)
            s.flush()
            dev = Device(id=f"{code}-S1", factory_id=f.id, stack_id=st.id, sample_interval_s=60.0, firmware="1.0.0",
                         status="online", last_seen_at=now - timedelta(seconds=30 + 600 * (code == "CHG")),
                         rssi_dbm=-60 - k, buffered=0)
            s.add(dev)
            device_ids[code] = dev.id
            s.flush()
            # Monthly submissions for the previous `months` months (not the current one).
            for i in range(1, months):
                m = add_months(this_month, -i)
                status = STATUS_APPROVED if i > 2 else STATUS_SUBMITTED
                sub = MonthlySubmission(
                    factory_id=f.id, month=m, green_leaf_kg=1_000_000 + 10_000 * k,
                    made_tea_kg=220_000 + 2_000 * k, status=status,
                    submitted_at=datetime(m.year, m.month, 1, tzinfo=UTC) + timedelta(days=36),
                )
                sub.entries = [
                    EnergyEntry(source="firewood", quantity=1_400 + 50 * k, unit="m3", moisture_fraction=0.3),
                    EnergyEntry(source="diesel", quantity=2_000 + 100 * k, unit="L"),
                    EnergyEntry(source="grid_electricity", quantity=120_000, unit="kWh"),
                ]
                s.add(sub)
            # Daily rollups for the last 60 days, with a gap of three days for MTR.
            for d in range(60):
                day = today - timedelta(days=d)
                if code == "MTR" and 10 <= d < 13:
                    continue
                covered = 86400.0 * (0.9 if code != "CHG" else 0.3)
                s.add(FactoryDaily(factory_id=f.id, day=day, n_readings=1440, n_valid=1296, covered_s=covered,
                                   co2_kg=20_000.0 + 1000 * k, sum_co2_kg_s=1296 * 0.25, max_co2_kg_s=0.4))
                s.add(DeviceDaily(device_id=dev.id, factory_id=f.id, day=day, n_readings=1440, n_valid=1296,
                                  covered_s=covered, co2_kg=20_000.0 + 1000 * k, sum_co2_kg_s=1296 * 0.25))
            for h in range(26):
                hour = (now - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)
                s.add(DeviceHourly(device_id=dev.id, factory_id=f.id, hour=hour, n_readings=60, n_valid=60,
                                   covered_s=3600.0, co2_kg=900.0, sum_co2_kg_s=60 * 0.25))
                s.add(FactoryHourly(factory_id=f.id, hour=hour, n_readings=60, n_valid=60, covered_s=3600.0,
                                    co2_kg=900.0, sum_co2_kg_s=60 * 0.25))
            # Older hours (issue 12, data availability): KGW and MTR valid 22 h a day, CHG 7 h; MTR's gap too.
            for h in range(26, 31 * 24):
                hour = (now - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)
                if code == "MTR" and 10 <= (today - local_date(hour, DEFAULT_TZ)).days < 13:
                    continue
                if hour.hour < (7 if code == "CHG" else 22):
                    s.add(DeviceHourly(device_id=dev.id, factory_id=f.id, hour=hour, n_readings=60, n_valid=60,
                                       covered_s=3600.0, co2_kg=900.0, sum_co2_kg_s=60 * 0.25))
            if readings:
                for mnt in range(0, 60):
                    ts = now - timedelta(minutes=mnt, seconds=5)
                    s.add(Reading(device_id=dev.id, factory_id=f.id, ts=ts, co2_ppm=80_000.0 + 100 * k,
                                  flue_temp_c=180.0, velocity_m_s=8.0, co2_kg_s=0.25 + 0.01 * k, quality=0))
        s.add(ListenerStat(instance="host:1", updated_at=now, started_at=now - timedelta(hours=2),
                           counters='{"received": 1000, "stored": 990, "rejected": 10}'))
        for username, role, code in (("admin", "admin", None), ("hq", "hq", None), ("auditor", "auditor", None),
                                     ("kagwe", "factory_manager", "KGW"), ("mataara", "factory_manager", "MTR")):
            create_user(s, username, PASSWORDS[username], role, code)
        s.commit()
    return Fixture(factory_ids, device_ids, now)


def web_config(db_url: str, tmp_path: Path) -> Config:
    """An embedded-style config for tests (fixed secret, data dir under tmp_path)."""
    return Config(database_url=db_url, secret_key="test-secret-" + "x" * 20, data_dir=tmp_path / "data",
                  embedded=True)


def csrf_from(html_text: str) -> str:
    """The CSRF token in the sign-in form."""
    m = re.search(r'name="csrf" value="([^"]+)"', html_text)
    assert m, "no CSRF token in the sign-in page"
    return m.group(1)


def login(client, username: str, password: str | None = None):  # noqa: ANN001, ANN201
    """Sign `client` in through the real form; return the POST response."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"csrf": token, "username": username,
                                       "password": password if password is not None else PASSWORDS[username],
                                       "next": "/"})


def logout(client):  # noqa: ANN001, ANN201
    """Sign `client` out the way the navbar button does: a POST with the CSRF token."""
    page = client.get("/logout")
    m = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert m, "no CSRF token on the sign-out page"
    return client.post("/logout", data={"csrf": m.group(1)})


def callback_body(output: str, inputs: list[dict], state: list[dict] | None = None, changed: list[str] | None = None) -> dict:
    """A raw /_dash-update-component request body, as a browser (or an attacker) would send it."""
    return {"output": output, "outputs": _outputs(output), "inputs": inputs, "state": state or [],
            "changedPropIds": changed or [f"{i['id']}.{i['property']}" for i in inputs[:1]]}


def _outputs(output: str) -> list[dict] | dict:
    parts = output.strip(".").split("...")
    outs = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        outs.append({"id": cid, "property": prop})
    return outs if len(outs) > 1 else outs[0]


def today_month(now: datetime = NOW) -> date:
    """The local month containing `now`."""
    return month_start(local_date(now, DEFAULT_TZ))


def count(Session: sessionmaker[Session], model: type) -> int:  # noqa: N803
    """Rows in a table."""
    with Session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def web_users(factory_ids: dict[str, int]) -> dict:
    """The demo's signed-in users as the web layer sees them (`WebUser`), by username: the factory
    manager of Kagwe, HQ, the auditor and the admin (ids as `build_small_db` creates them)."""
    from core.accounts.auth import WebUser

    return {
        "kagwe": WebUser(4, "kagwe", "factory_manager", factory_ids["KGW"], True),
        "hq": WebUser(2, "hq", "hq", None, True),
        "auditor": WebUser(3, "auditor", "auditor", None, True),
        "admin": WebUser(1, "admin", "admin", None, True),
    }


def make_web_db(path: Path, now: datetime = NOW) -> tuple[sa.Engine, sessionmaker[Session], Fixture, str]:
    """A migrated SQLite file at `path` filled by build_small_db (for module-scoped fixtures)."""
    from conftest import migrated_sqlite

    from core.db import make_engine, make_session_factory

    url = migrated_sqlite(path)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    fx = build_small_db(Session, now=now)
    return engine, Session, fx, url


def post_callback(client, app, output_id: str, inputs: list[dict], state: list[dict] | None = None):  # noqa: ANN001, ANN201
    """POST a hand-made /_dash-update-component request for the callback that writes `output_id`."""
    keys = [k for k in app.callback_map if f"{output_id}." in k and "callback" in app.callback_map[k]]  # server-side
    assert len(keys) == 1, f"no unique callback for {output_id}: {keys}"
    key = keys[0]
    body = {"output": key, "outputs": _outputs(key), "inputs": inputs, "state": state or [],
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"] if inputs else []}
    return client.post("/_dash-update-component", json=body)


def client_as(app, username: str):  # noqa: ANN001, ANN201
    """A Flask test client signed in as `username` (demo password of web_helpers)."""
    client = app.server.test_client()
    assert login(client, username).status_code == 302
    return client


def module_web_app(tmp_path_factory, name: str):  # noqa: ANN001, ANN201
    """Yield (app, Session, fixture) on a fresh small database: the body of a module-scoped `web` fixture."""
    from app import create_app

    tmp = tmp_path_factory.mktemp(name)
    engine, Session, fx, url = make_web_db(tmp / f"{name}.db")  # noqa: N806
    app = create_app(web_config(url, tmp), Session)
    yield app, Session, fx
    engine.dispose()

"""REST API: the spec and docs, token auth, role and factory scoping, each resource, entries, errors.

Runs on SQLite and PostgreSQL (module fixture per backend) through the whole app's WSGI server
(`create_app(...).server`), so the API is reached exactly as gunicorn would reach it.
Figures come from web_helpers' fixture (built by hand there) or from arithmetic in the test.
"""

from __future__ import annotations

import json
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from api_helpers import bearer, make_tokens
from conftest import create_pg_database, drop_pg_database, migrated_sqlite, require_or_skip
from web_helpers import NOW, build_small_db, login, web_config

import core.accounts.auth as auth
import core.accounts.tokens as tokens
from api import spec_json
from app import create_app
from core.accounts.tokens import TOKEN_THROTTLE, create_token
from core.db import make_engine, make_session_factory
from core.models import ApiToken, AuditLog, EnergyEntry, MonthlySubmission, Report, User
from core.timeutil import utcnow

PROBLEM = "application/problem+json"
MTR_GAP_DAYS = (10, 11, 12)  # web_helpers leaves these days (back from today) without MTR rollups


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request, tmp_path_factory, pg_available):
    tmp = tmp_path_factory.mktemp(f"api_{request.param}")
    if request.param == "sqlite":
        url = migrated_sqlite(tmp / "api.db")
    else:
        require_or_skip(pg_available, "PostgreSQL")
        url = create_pg_database("ct_api", migrated=True)
    engine = None
    try:
        engine = make_engine(url)
        Session = make_session_factory(engine)  # noqa: N806
        fx = build_small_db(Session)
        toks = make_tokens(Session)
        app = create_app(web_config(url, tmp), Session)
        yield app.server, Session, fx, toks, tmp
    finally:
        if engine is not None:
            engine.dispose()
        if request.param == "postgres":
            drop_pg_database(url)


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch):
    monkeypatch.setattr(tokens, "FAILURE_DELAY_S", 0.0)
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    TOKEN_THROTTLE.reset()
    auth.IP_THROTTLE.reset()
    yield
    TOKEN_THROTTLE.reset()


def get(env, path, user="kagwe", **kw):
    server, _, _, toks, _ = env
    return server.test_client().get(path, headers=bearer(toks[user]), **kw)


def fid(env, code):
    return env[2].factory_ids[code]


# --- the document and the docs pages ----------------------------------------------------------


def test_api_spec_served_and_written_by_cli_are_the_same(env, tmp_path):
    from carbontrack.cli import main

    served = env[0].test_client().get("/api/openapi.json")
    assert served.status_code == 200
    out = tmp_path / "spec.json"
    assert main(["api-spec", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == served.get_json()


def test_api_every_operation_has_summary_units_and_errors():
    spec = spec_json()
    ops = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(ops) >= 20
    ids = [op["operationId"] for _, _, op in ops]
    assert len(set(ids)) == len(ids) and all(i.isidentifier() for i in ids)  # readable names for clients
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert path.startswith("/api/v1/"), where
        assert op.get("summary"), where
        assert op.get("description"), f"{where}: no description"
        assert op.get("security") == [{"bearer": []}], where
        for code in ("401", "404", "422"):
            assert PROBLEM in op["responses"][code]["content"], f"{where} {code}"
        for param in op.get("parameters", []):
            assert param.get("description"), f"{where}: parameter {param['name']} undocumented"
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok, f"{where}: no success response"
    schemas = spec["components"]["schemas"]
    # Units are in the names or the descriptions of the figures.
    assert "kg CO2e" in schemas["InventoryOut"]["properties"]["total_kg"]["description"]
    assert "kg/s" in schemas["ReadingOut"]["properties"]["co2_kg_s"]["description"]


@pytest.mark.parametrize("page", ["/api/docs", "/api/redoc"])
def test_api_docs_pages_load_only_local_assets(env, page):
    client = env[0].test_client()
    resp = client.get(page)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    import re

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|svg))"', html)
    assert assets
    for asset in assets:
        assert client.get("/api/" + asset).status_code == 200, asset


# --- authentication ---------------------------------------------------------------------------


def test_api_requires_a_bearer_token(env):
    client = env[0].test_client()
    for headers in ({}, {"Authorization": "Basic YWRtaW46YWRtaW4tcGFzcy0x"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer ct_not-a-real-token"}, {"Authorization": "Bearer " + "x" * 5000}):
        resp = client.get("/api/v1/me", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.content_type == PROBLEM
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_portal_cookie_does_not_authenticate_the_api(env):
    client = env[0].test_client()
    assert login(client, "admin").status_code == 302
    assert client.get("/hq").status_code == 200  # the cookie works for the portal
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401
    resp = client.put(f"/api/v1/factories/{fid(env, 'KGW')}/months/2026-10/entry", json={"sources": []})
    assert resp.status_code == 401


def test_api_token_does_not_open_the_portal(env):
    resp = get(env, "/hq", user="admin")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_api_token_acts_as_its_user_and_records_last_use(env):
    _, Session, _, toks, _ = env
    resp = get(env, "/api/v1/me", user="mataara")
    assert resp.status_code == 200
    assert resp.get_json() == {"id": resp.get_json()["id"], "username": "mataara", "role": "factory_manager",
                               "factory_id": fid(env, "MTR")}
    with Session() as s:
        row = s.scalar(sa.select(ApiToken).join(User, User.id == ApiToken.user_id).where(User.username == "mataara"))
        assert row.last_used_at is not None and utcnow() - row.last_used_at < timedelta(minutes=1)
        assert row.last_used_ip == "127.0.0.1"
        assert row.token_sha256 != toks["mataara"] and toks["mataara"] not in row.token_sha256


def test_api_revoked_expired_and_inactive_tokens_fail(env):
    server, Session, _, _, _ = env
    client = server.test_client()
    with Session() as s:
        hq = s.scalar(sa.select(User).where(User.username == "hq"))
        revoked, revoked_text = create_token(s, hq, "to revoke")
        _, expired_text = create_token(s, hq, "old", expires_days=1, now=utcnow() - timedelta(days=2))
        s.commit()
        revoked_id = revoked.id
    assert client.get("/api/v1/me", headers=bearer(revoked_text)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{revoked_id}", headers=bearer(revoked_text)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(revoked_text)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(expired_text)).status_code == 401
    with Session() as s:
        auditor = s.scalar(sa.select(User).where(User.username == "auditor"))
        _, text = create_token(s, auditor, "deactivated")
        s.commit()
        assert client.get("/api/v1/me", headers=bearer(text)).status_code == 200
        auditor.active = False
        s.commit()
        try:
            assert client.get("/api/v1/me", headers=bearer(text)).status_code == 401
        finally:
            auditor.active = True
            s.commit()
        failures = s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "api_token_failed"))
        assert failures >= 3


def test_api_failed_tokens_are_throttled_per_address(env):
    client = env[0].test_client()
    good = bearer(env[3]["hq"])
    for _ in range(tokens.MAX_IP_FAILURES):
        assert client.get("/api/v1/me", headers=bearer("ct_guess")).status_code == 401
    resp = client.get("/api/v1/me", headers=good)
    assert resp.status_code == 429  # even a good token, from an address that has been guessing
    assert resp.content_type == PROBLEM and resp.headers["Retry-After"]
    other = client.get("/api/v1/me", headers=good, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_api_tokens_list_create_and_revoke_only_own(env):
    server, Session, _, toks, _ = env
    client = server.test_client()
    resp = client.post("/api/v1/tokens", headers=bearer(toks["kagwe"]), json={"name": "ERP sync", "expires_days": 30})
    assert resp.status_code == 201
    created = resp.get_json()
    assert created["token"].startswith("ct_") and created["expires_at"]
    assert client.get("/api/v1/me", headers=bearer(created["token"])).get_json()["username"] == "kagwe"
    listed = client.get("/api/v1/tokens", headers=bearer(toks["kagwe"])).get_json()["items"]
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    # mataara cannot see or revoke kagwe's token
    assert created["id"] not in [t["id"] for t in client.get("/api/v1/tokens", headers=bearer(toks["mataara"])).get_json()["items"]]
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(toks["mataara"])).status_code == 404
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(toks["kagwe"])).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 401


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 81}, {"name": "ok", "expires_days": 0},
                                  {"name": "ok", "expires_days": 99999}, {"name": "a\u0000b"}, {"name": "ok", "extra": 1}])
def test_api_token_create_refuses_bad_input(env, body):
    _, Session, _, toks, _ = env
    with Session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(ApiToken))
    resp = env[0].test_client().post("/api/v1/tokens", headers=bearer(toks["hq"]), json=body)
    assert resp.status_code == 422 and resp.content_type == PROBLEM
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == before


def test_cli_create_token_prints_a_working_token_once(env, monkeypatch, capsys):
    from carbontrack.cli import main

    server, Session, _, _, tmp = env
    url = str(Session.kw["bind"].url.render_as_string(hide_password=False))
    monkeypatch.setenv("CARBONTRACK_DATABASE_URL", url)
    monkeypatch.setenv("CARBONTRACK_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("CARBONTRACK_DATA_DIR", str(tmp / "cli"))
    assert main(["create-token", "auditor", "--name", "verifier", "--expires", "7"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("ct_") and "verifier" in out.err and token not in out.err
    assert server.test_client().get("/api/v1/me", headers=bearer(token)).get_json()["username"] == "auditor"
    assert main(["create-token", "nobody"]) == 1
    assert main(["create-token", "auditor", "--expires", "0"]) == 2


# --- scoping: a factory manager's token never reaches another factory ----------------------------

FACTORY_PATHS = [
    "/api/v1/factories/{f}",
    "/api/v1/factories/{f}/readings?start=2026-11-28T00:00:00%2B03:00&end=2026-11-29T00:00:00%2B03:00",
    "/api/v1/factories/{f}/readings.csv?start=2026-11-28T00:00:00%2B03:00&end=2026-11-29T00:00:00%2B03:00",
    "/api/v1/factories/{f}/emissions/hourly?start=2026-11-28T00:00:00%2B03:00&end=2026-11-29T00:00:00%2B03:00",
    "/api/v1/factories/{f}/emissions/daily?first=2026-11-01&last=2026-11-27",
    "/api/v1/factories/{f}/emissions/monthly?first=2026-01&last=2026-10",
    "/api/v1/factories/{f}/inventories?first=2026-01&last=2026-10",
    "/api/v1/factories/{f}/months/2026-10/entry",
    "/api/v1/nodes?factory_id={f}",
]


@pytest.mark.parametrize("path", FACTORY_PATHS)
def test_api_factory_manager_gets_404_for_other_factory(env, path):
    own = get(env, path.format(f=fid(env, "KGW")))
    assert own.status_code == 200, own.get_data(as_text=True)
    for code in ("MTR", "CHG"):
        other = get(env, path.format(f=fid(env, code)))
        assert other.status_code == 404 and other.content_type == PROBLEM
        assert code not in other.get_data(as_text=True)
    missing = get(env, path.format(f=99999))
    assert missing.status_code == 404
    # the "not yours" and "does not exist" answers are the same, so ids cannot be probed
    assert other.get_json()["detail"].replace(str(fid(env, "CHG")), "N") == missing.get_json()["detail"].replace("99999", "N")


@pytest.mark.parametrize("path", FACTORY_PATHS)
@pytest.mark.parametrize("user", ["hq", "admin", "auditor"])
def test_api_hq_side_roles_read_every_factory(env, path, user):
    for code in ("KGW", "MTR", "CHG"):
        assert get(env, path.format(f=fid(env, code)), user=user).status_code == 200


@pytest.mark.parametrize("user,codes", [("kagwe", ["KGW"]), ("mataara", ["MTR"]), ("hq", ["CHG", "KGW", "MTR"]),
                                        ("auditor", ["CHG", "KGW", "MTR"])])
def test_api_lists_are_scoped(env, user, codes):
    assert [f["code"] for f in get(env, "/api/v1/factories", user=user).get_json()["items"]] == codes
    assert sorted(i["factory_code"] for i in get(env, "/api/v1/inventories?month=2026-10", user=user).get_json()["items"]) == codes
    assert sorted(r["code"] for r in get(env, "/api/v1/leaderboard", user=user).get_json()["items"]) == codes
    assert sorted(n["factory_code"] for n in get(env, "/api/v1/nodes", user=user).get_json()["items"]) == codes
    metrics = get(env, "/api/v1/success-metrics", user=user).get_json()
    assert metrics["n_factories"] == len(codes) and metrics["nodes_total"] == len(codes)  # one node per factory


# --- resources ----------------------------------------------------------------------------------


def test_api_factory_has_stacks_devices_and_target(env):
    body = get(env, f"/api/v1/factories/{fid(env, 'KGW')}").get_json()
    assert body["code"] == "KGW" and body["target_kg_co2e_per_kg"] == 1.6 and body["altitude_m"] == 2150
    assert [s["diameter_m"] for s in body["stacks"]] == [1.0]
    assert [d["id"] for d in body["devices"]] == ["KGW-S1"]


def test_api_readings_range_paging_and_csv(env):
    f = fid(env, "KGW")
    # web_helpers stores 60 readings at NOW - m min - 5 s (m = 0..59), NOW = 09:30 UTC (12:30 EAT).
    base = f"/api/v1/factories/{f}/readings?start=2026-11-28T11:30:00%2B03:00&end=2026-11-28T12:30:00%2B03:00"
    body = get(env, base + "&page_size=25").get_json()
    assert body["paging"] == {"page": 1, "page_size": 25, "total": 60}
    pages = [get(env, base + f"&page_size=25&page={p}").get_json()["items"] for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [25, 25, 10]
    times = [r["ts"] for p in pages for r in p]
    assert times == sorted(times) and len(set(times)) == 60
    assert times[0] == "2026-11-28T08:30:55Z" and times[-1] == "2026-11-28T09:29:55Z"
    # 09:00Z to 09:30Z: m*60 + 5 <= 1800 s, m = 0..29 -> 30 readings (also given in UTC: the offset is honoured)
    half = get(env, f"/api/v1/factories/{f}/readings?start=2026-11-28T09:00:00Z&end=2026-11-28T09:30:00Z")
    assert half.get_json()["paging"]["total"] == 30
    one = get(env, base + "&device_id=KGW-S1&page_size=1").get_json()["items"][0]
    assert (one["co2_ppm"], one["flue_temp_c"], one["velocity_m_s"], one["co2_kg_s"]) == (80000.0, 180.0, 8.0, 0.25)
    csv_resp = get(env, base.replace("/readings?", "/readings.csv?") + "&page_size=5000")
    assert csv_resp.content_type.startswith("text/csv") and csv_resp.headers["X-Total-Count"] == "60"
    lines = csv_resp.get_data(as_text=True).strip().split("\n")
    assert lines[0].split(",")[:4] == ["ts", "device_id", "seq", "co2_ppm"] and len(lines) == 61
    assert get(env, base + "&device_id=MTR-S1").status_code == 404  # another factory's node


@pytest.mark.parametrize("query", [
    "start=2026-11-01T00:00:00%2B03:00&end=2026-12-05T00:00:00%2B03:00",  # 34 days
    "start=2026-11-28T00:00:00%2B03:00&end=2026-11-27T00:00:00%2B03:00",  # reversed
    "start=2026-11-28T00:00:00&end=2026-11-29T00:00:00",  # no offset
    "start=10000-01-01T00:00:00Z&end=10000-01-02T00:00:00Z",
    "start=1900-01-01T00:00:00Z&end=1900-01-02T00:00:00Z",
    "start=yesterday&end=today",
    "start=2026-11-28T00:00:00Z&end=2026-11-29T00:00:00Z&page=0",
    "start=2026-11-28T00:00:00Z&end=2026-11-29T00:00:00Z&page_size=100000",
    "start=2026-11-28T00:00:00Z&end=2026-11-29T00:00:00Z&page=NaN",
    "start=2026-11-28T00:00:00Z&end=2026-11-29T00:00:00Z&device_id=" + "x" * 41,
])
def test_api_readings_refuse_bad_ranges(env, query):
    resp = get(env, f"/api/v1/factories/{fid(env, 'KGW')}/readings?{query}")
    assert resp.status_code == 422 and resp.content_type == PROBLEM
    assert resp.get_json()["detail"]


def test_api_daily_and_hourly_emissions(env):
    today = NOW.date()  # 2026-11-28 (12:30 EAT)
    first = today - timedelta(days=14)
    body = get(env, f"/api/v1/factories/{fid(env, 'MTR')}/emissions/daily?first={first}&last={today - timedelta(days=1)}",
               user="mataara").get_json()["items"]
    by_day = {p["day"]: p for p in body}
    assert len(body) == 14
    for back in range(1, 15):
        day = str(today - timedelta(days=back))
        if back in MTR_GAP_DAYS:
            assert by_day[day]["co2_kg"] is None  # a gap, not zero
        else:
            assert by_day[day]["co2_kg"] == 21_000.0  # 20 000 + 1000 × k, k = 1 for MTR
            assert by_day[day]["coverage"] == pytest.approx(0.9)
    hours = get(env, f"/api/v1/factories/{fid(env, 'KGW')}/emissions/hourly"
                     "?start=2026-11-28T00:00:00%2B03:00&end=2026-11-28T12:00:00%2B03:00").get_json()["items"]
    assert len(hours) == 12 and {h["co2_kg"] for h in hours} == {900.0}
    assert hours[0]["hour"] == "2026-11-27T21:00:00Z"


def test_api_inventory_scope2_from_the_published_grid_factor(env):
    factors = get(env, "/api/v1/emission-factors").get_json()["items"]
    grid = next(f for f in factors if f["kind"] == "electricity" and f["is_default"])
    inv = get(env, f"/api/v1/factories/{fid(env, 'KGW')}/inventories?first=2026-09&last=2026-10").get_json()["items"]
    assert [i["month"] for i in inv] == ["2026-09", "2026-10"]
    for i in inv:
        assert i["grid_kwh"] == 120_000  # web_helpers logs 120 000 kWh every month
        assert i["scope2_kg"] == pytest.approx(120_000 * grid["kg_co2_per_kwh"])
        assert i["total_kg"] == pytest.approx(i["scope1_kg"] + i["scope2_kg"])
        assert i["made_tea_kg"] == 220_000
        assert i["intensity_kg_per_kg"] == pytest.approx(i["total_kg"] / 220_000)
        assert i["biogenic_co2_kg"] > i["fossil_co2_kg"] > 0  # firewood dominates


def test_api_month_params_are_checked(env):
    f = fid(env, "KGW")
    for q in ("first=2026-13&last=2026-14", "first=2026-10&last=2026-01", "first=1999-01&last=1999-02",
              "first=2020-01&last=2026-01", "first=26-1&last=26-2"):
        resp = get(env, f"/api/v1/factories/{f}/inventories?{q}")
        assert resp.status_code == 422, q
    assert get(env, f"/api/v1/factories/{f}/months/2026-00/entry").status_code == 422
    assert get(env, "/api/v1/leaderboard?metric=cheapest").status_code == 422


def test_api_audit_log_for_admin_and_auditor_only(env):
    for user in ("kagwe", "hq"):
        resp = get(env, "/api/v1/audit", user=user)
        assert resp.status_code == 403 and resp.content_type == PROBLEM
    for user in ("admin", "auditor"):
        resp = get(env, "/api/v1/audit?limit=5", user=user)
        assert resp.status_code == 200 and len(resp.get_json()["items"]) <= 5


def test_api_reports_scoped_and_downloadable(env):
    _, Session, _, _, tmp = env
    paths = {}
    with Session() as s:
        for kind, code, factory in (("factory", "KGW", fid(env, "KGW")), ("factory", "MTR", fid(env, "MTR")),
                                    ("network", "NETWORK", None)):
            wb = openpyxl.Workbook()
            wb.active["A1"] = f"{code} October"
            path = tmp / f"{code}-2026-10.xlsx"
            wb.save(path)
            s.add(Report(kind=kind, factory_id=factory, scope_key=code, month=NOW.date().replace(month=10, day=1),
                         version=1, status="done", path=str(path), sha256="0" * 64, factor_versions='{"diesel": 1}'))
            paths[code] = path
        s.commit()
    mine = get(env, "/api/v1/reports?month=2026-10").get_json()["items"]
    assert [r["scope_key"] for r in mine] == ["KGW"]
    assert mine[0]["factor_versions"] == {"diesel": 1}
    resp = get(env, mine[0]["download"])
    assert resp.status_code == 200 and resp.data == paths["KGW"].read_bytes()
    tmp_copy = tmp / "downloaded.xlsx"
    tmp_copy.write_bytes(resp.data)
    assert openpyxl.load_workbook(tmp_copy).active["A1"].value == "KGW October"
    everything = get(env, "/api/v1/reports?month=2026-10", user="auditor").get_json()["items"]
    assert sorted(r["scope_key"] for r in everything) == ["KGW", "MTR", "NETWORK"]
    for r in everything:
        if r["scope_key"] != "KGW":
            assert get(env, r["download"]).status_code == 404  # kagwe may not have it
    assert get(env, "/api/v1/reports/99999/file").status_code == 404


# --- energy entries -----------------------------------------------------------------------------

ENTRY = {"sources": [{"source": "firewood", "quantity": 1500, "unit": "m3", "moisture_pct": 30},
                     {"source": "diesel", "quantity": 2100, "unit": "L"},
                     {"source": "grid_electricity", "quantity": 118000, "unit": "kWh"}],
         "green_leaf_kg": 1_000_000, "made_tea_kg": 221_000, "note": "via API"}


def _entry_state(Session, factory_id, month):  # noqa: ANN001, N803
    with Session() as s:
        sub = s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == factory_id,
                                                          MonthlySubmission.month == month))
        if sub is None:
            return None
        entries = {e.source: (e.quantity, e.unit) for e in s.scalars(
            sa.select(EnergyEntry).where(EnergyEntry.submission_id == sub.id))}
        return sub.status, entries, sub.made_tea_kg, sub.note


def _audit_count(Session) -> int:  # noqa: N803
    with Session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def test_api_entry_workflow_draft_submit_approve_return(env):
    server, Session, _, toks, _ = env
    client = server.test_client()
    f = fid(env, "CHG")
    month = NOW.date().replace(day=1)  # 2026-11: no submission in the fixture for the current month
    path = f"/api/v1/factories/{f}/months/{month:%Y-%m}/entry"
    with Session() as s:
        chg = s.scalar(sa.select(User).where(User.username == "mataara"))
        chg_manager = User(username="chinga", password_hash=chg.password_hash, role="factory_manager", factory_id=f)
        s.add(chg_manager)
        s.flush()
        _, chg_token = create_token(s, chg_manager, "entry")
        s.commit()
    assert client.get(path, headers=bearer(chg_token)).get_json()["status"] == "missing"
    before = _audit_count(Session)
    resp = client.put(path, headers=bearer(chg_token), json=ENTRY)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "draft"
    state = _entry_state(Session, f, month)
    assert state == ("draft", {"firewood": (1500, "m3"), "diesel": (2100, "L"), "grid_electricity": (118000, "kWh")},
                     221_000, "via API")
    assert _audit_count(Session) > before  # field-by-field audit rows, as the portal writes
    # a draft may be replaced: diesel left out is removed from the month
    smaller = {**ENTRY, "sources": ENTRY["sources"][:1] + ENTRY["sources"][2:]}
    assert client.put(path, headers=bearer(chg_token), json=smaller).status_code == 200
    assert "diesel" not in _entry_state(Session, f, month)[1]
    # others may not write it
    for user, code in (("kagwe", 404), ("auditor", 403), ("hq", 403)):
        assert client.put(path, headers=bearer(toks[user]), json=ENTRY).status_code == code, user
    assert client.post(path + "/approve", headers=bearer(toks["hq"])).status_code == 409  # not submitted yet
    assert client.post(path + "/submit", headers=bearer(chg_token), json=ENTRY).get_json()["status"] == "submitted"
    assert client.put(path, headers=bearer(chg_token), json=ENTRY).status_code == 409  # no going back to draft
    assert client.post(path + "/approve", headers=bearer(chg_token)).status_code == 403
    assert client.post(path + "/approve", headers=bearer(toks["auditor"])).status_code == 403
    assert client.post(path + "/approve", headers=bearer(toks["hq"])).get_json()["status"] == "approved"
    locked = client.post(path + "/submit", headers=bearer(chg_token), json=ENTRY)
    assert locked.status_code == 409 and "locked" in locked.get_json()["detail"]
    assert client.post(path + "/return", headers=bearer(toks["hq"]), json={"reason": "please check diesel"}).status_code == 403
    for reason in ("no", "  no    "):  # too short, also once the spaces are stripped (core's rule)
        short = client.post(path + "/return", headers=bearer(toks["admin"]), json={"reason": reason})
        assert short.status_code == 422 and short.content_type == PROBLEM
    back = client.post(path + "/return", headers=bearer(toks["admin"]), json={"reason": "diesel looks like m3"})
    assert back.status_code == 200 and back.get_json()["status"] == "draft"
    with Session() as s:
        actions = set(s.scalars(sa.select(AuditLog.action).where(AuditLog.factory_id == f)))
    assert {"create", "update", "submit", "approve", "reopen"} <= actions


BAD_BODIES = [
    ('{"sources": [{"source": "diesel", "quantity": NaN, "unit": "L"}]}', 422),
    ('{"sources": [{"source": "diesel", "quantity": Infinity, "unit": "L"}]}', 422),
    ('{"sources": [{"source": "diesel", "quantity": -5, "unit": "L"}]}', 422),
    ('{"sources": [{"source": "diesel", "quantity": "lots", "unit": "L"}]}', 422),
    ('{"sources": [{"source": "coal", "quantity": 5, "unit": "kg"}]}', 422),
    ('{"sources": [{"source": "diesel", "quantity": 5, "unit": "kWh"}]}', 422),  # a unit diesel is not logged in
    ('{"sources": [{"source": "diesel", "quantity": 5, "unit": "L"}, {"source": "diesel", "quantity": 6, "unit": "L"}]}', 422),
    ('{"sources": [{"source": "diesel", "quantity": 5, "unit": "L", "moisture_pct": 20}]}', 422),
    ('{"sources": [{"source": "firewood", "quantity": 5, "unit": "m3", "moisture_pct": 150}]}', 422),
    ('{"made_tea_kg": -1}', 422),
    ('{"made_tea_kg": false}', 422),  # found by schemathesis: pydantic's lax mode read false as 0
    ('{"made_tea_kg": "220000"}', 422),
    ('{"made_tea_kg": 1e300}', 422),
    ('{"note": "a\\u0000b"}', 422),
    ('{"note": "\\ud800"}', 422),
    ('{"sources": [], "surprise": 1}', 422),
    ('[1, 2]', 422),
    ('{"sources": [', 422),
    ('not json', 422),
]


@pytest.mark.parametrize("raw,status", BAD_BODIES)
def test_api_entry_bad_input_is_refused_and_changes_nothing(env, raw, status):
    server, Session, _, toks, _ = env
    f = fid(env, "KGW")
    path = f"/api/v1/factories/{f}/months/2026-10/entry"
    month = NOW.date().replace(month=10, day=1)
    before, audit_before = _entry_state(Session, f, month), _audit_count(Session)
    resp = server.test_client().put(path, headers={**bearer(toks["admin"]), "Content-Type": "application/json"}, data=raw)
    assert resp.status_code in (400, status), resp.get_data(as_text=True)
    assert resp.content_type == PROBLEM and resp.get_json()["detail"]
    assert _entry_state(Session, f, month) == before and _audit_count(Session) == audit_before


def test_api_oversized_body_is_413(env):
    server, _, _, toks, _ = env
    resp = server.test_client().put(f"/api/v1/factories/{fid(env, 'KGW')}/months/2026-10/entry",
                                    headers=bearer(toks["kagwe"]), json={"note": "x" * 70_000})
    assert resp.status_code == 413 and resp.content_type == PROBLEM


def test_api_unknown_path_and_method_are_problems(env):
    assert get(env, "/api/v1/nothing-here").content_type == PROBLEM
    resp = env[0].test_client().delete(f"/api/v1/factories/{fid(env, 'KGW')}", headers=bearer(env[3]["admin"]))
    assert resp.status_code == 405 and resp.content_type == PROBLEM

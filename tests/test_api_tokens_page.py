"""The portal's API tokens page: create (shown once, works on the API), list with last use, revoke own only.

Callbacks are reached with the raw JSON a browser (or an attacker) posts to /_dash-update-component.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from api_helpers import bearer
from web_helpers import login, make_web_db, post_callback, web_config

import core.accounts.auth as auth
from app import create_app
from core.accounts.tokens import TOKEN_THROTTLE, create_token
from core.models import ApiToken, User


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tokens_page")
    engine, Session, fx, url = make_web_db(tmp / "tokens.db")
    app = create_app(web_config(url, tmp), Session)
    yield app, Session
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    TOKEN_THROTTLE.reset()  # failed tokens from earlier modules (same process, same 127.0.0.1)


def _client(app, username):
    client = app.server.test_client()
    assert login(client, username).status_code == 302
    return client


def _create(client, app, name="ERP sync", expires=30):
    resp = post_callback(client, app, "api-tokens-new",
                         [{"id": "api-tokens-create", "property": "n_clicks", "value": 1}],
                         [{"id": "api-tokens-name", "property": "value", "value": name},
                          {"id": "api-tokens-expires", "property": "value", "value": expires}])
    return resp


def _table(client, app):
    return post_callback(client, app, "api-tokens-table", [{"id": "api-tokens-refresh", "property": "data", "value": 1},
                                                           {"id": "api-tokens-feedback", "property": "children",
                                                            "value": None}])


def _revoke(client, app, token_id):
    """The grid's Revoke button clicked (CtButton sets the grid's cellRendererData), as the browser sends it."""
    data = {"value": token_id, "colId": "action", "rowIndex": 0, "rowId": "0", "timestamp": 1}
    return post_callback(client, app, "api-tokens-feedback",
                         [{"id": "api-tokens-grid", "property": "cellRendererData", "value": data}])


def _grid_rows(resp) -> list[dict]:
    """The rows of the token grid in a table callback's answer."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "AgGrid" and node.get("props", {}).get("id") == "api-tokens-grid":
                found.extend(node["props"]["rowData"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(resp.get_json())
    return found


def _token_text(resp) -> str:
    found = re.findall(r"ct_[A-Za-z0-9_-]{43}", json.dumps(resp.get_json()))
    assert len(found) == 1, found  # the whole token once (the message shows only its prefix)
    return found[0]


def test_tokens_page_renders_for_every_role(web):
    app, _ = web
    for user in ("kagwe", "hq", "admin", "auditor"):
        client = _client(app, user)
        assert client.get("/account/api-tokens").status_code == 200
        layout = client.get("/_dash-layout")
        assert layout.status_code == 200


def test_tokens_page_creates_a_working_token_shown_once(web):
    app, Session = web
    client = _client(app, "kagwe")
    resp = _create(client, app)
    assert resp.status_code == 200
    token = _token_text(resp)
    assert token.startswith("ct_") and len(token) == 46
    me = app.server.test_client().get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["username"] == "kagwe"
    table = json.dumps(_table(client, app).get_json())
    assert "ERP sync" in table and token not in table and token[:10] in table
    assert "api-tokens-grid" in table
    with Session() as s:
        assert token not in set(s.scalars(sa.select(ApiToken.token_sha256)))


@pytest.mark.parametrize("name", ["", "x" * 200, "a\u0000b"])
def test_tokens_page_refuses_bad_names(web, name):
    app, Session = web
    client = _client(app, "hq")
    with Session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(ApiToken))
    resp = _create(client, app, name=name)
    assert resp.status_code == 200 and "api-tokens-error" in json.dumps(resp.get_json())
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == before


def test_tokens_page_lists_tokens_in_a_grid(web):
    app, Session = web
    with Session() as s:
        hq = s.scalar(sa.select(User).where(User.username == "hq"))
        active, _t1 = create_token(s, hq, "grid active", 30)
        gone, _t2 = create_token(s, hq, "grid revoked")
        s.flush()
        from core.accounts.tokens import revoke_token

        revoke_token(s, hq, gone.id)
        s.commit()
        active_id, gone_id, prefix = active.id, gone.id, active.prefix
    rows = {r["id"]: r for r in _grid_rows(_table(_client(app, "hq"), app))}
    assert {active_id, gone_id} <= set(rows)
    assert rows[active_id]["name"] == "grid active" and rows[active_id]["token"] == f"{prefix}…"
    assert (rows[active_id]["state"], rows[active_id]["action"], rows[active_id]["action__arg"]) == (
        "active", "Revoke", active_id)
    assert rows[active_id]["action__id"] == f"api-tokens-revoke-{active_id}"
    assert rows[gone_id]["state"].startswith("revoked ") and rows[gone_id]["state__tone"] == "revoked"
    assert rows[gone_id]["action"] == "" and "action__arg" not in rows[gone_id]  # nothing to revoke twice
    assert rows[active_id]["last_used"] == "never"
    # Another user's grid does not list hq's tokens.
    assert not {active_id, gone_id} & {r["id"] for r in _grid_rows(_table(_client(app, "kagwe"), app))}


def test_tokens_page_revokes_own_token_only(web):
    app, Session = web
    with Session() as s:
        mataara = s.scalar(sa.select(User).where(User.username == "mataara"))
        theirs, their_text = create_token(s, mataara, "theirs")
        kagwe = s.scalar(sa.select(User).where(User.username == "kagwe"))
        mine, my_text = create_token(s, kagwe, "mine")
        s.commit()
        theirs_id, mine_id = theirs.id, mine.id
    client = _client(app, "kagwe")
    resp = _revoke(client, app, theirs_id)  # a crafted click naming another user's token
    assert "Not revoked: no such token." in json.dumps(resp.get_json())
    assert app.server.test_client().get("/api/v1/me", headers=bearer(their_text)).status_code == 200
    resp = _revoke(client, app, mine_id)
    assert resp.status_code == 200 and "api-tokens-revoked" in json.dumps(resp.get_json())
    assert app.server.test_client().get("/api/v1/me", headers=bearer(my_text)).status_code == 401
    row = next(r for r in _grid_rows(_table(client, app)) if r["id"] == mine_id)
    assert row["state__tone"] == "revoked" and row["action"] == ""
    for junk in ("1", None, True, [mine_id]):  # not a token id: nothing happens
        resp = _revoke(client, app, junk)
        assert resp.status_code in (200, 204) and "api-tokens-" not in resp.get_data(as_text=True)


def test_tokens_page_callbacks_refuse_anonymous_callers(web):
    app, _ = web
    client = app.server.test_client()
    assert _create(client, app).status_code == 401
    assert _revoke(client, app, 1).status_code == 401


@pytest.mark.browser
def test_tokens001_create_and_revoke_in_the_grid(dash_duo, web):
    """Create a token in the browser, see it in the grid, revoke it with the grid's button: it stops working."""
    from test_web_browser import click, sign_in, start

    app, Session = web
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/account/api-tokens")
    dash_duo.wait_for_element("#api-tokens-name").send_keys("browser test")
    click(dash_duo, "#api-tokens-create")
    token = dash_duo.wait_for_element("#api-tokens-value", timeout=15).text
    assert token.startswith("ct_")
    with Session() as s:
        row = s.scalars(sa.select(ApiToken).where(ApiToken.name == "browser test")).one()
    dash_duo.wait_for_element(f"#api-tokens-revoke-{row.id}", timeout=15)
    assert "browser test" in dash_duo.find_element("#api-tokens-grid").text
    assert app.server.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    click(dash_duo, f"#api-tokens-revoke-{row.id}")
    dash_duo.wait_for_element("#api-tokens-revoked", timeout=15)
    dash_duo.wait_for_contains_text("#api-tokens-grid", "revoked", timeout=15)
    assert not dash_duo.driver.find_elements("css selector", f"#api-tokens-revoke-{row.id}")
    assert app.server.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]

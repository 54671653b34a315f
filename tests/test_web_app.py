"""The app factory: lazy `server` for gunicorn, cookie settings, local assets only, page shell."""

from __future__ import annotations

import re
import subprocess
import sys

from web_helpers import login, make_web_db, web_config

from app import create_app


def test_importing_app_builds_nothing():
    code = "import app, sys; assert app._server is None; assert 'carbontrack.runner' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "CARBONTRACK_DATABASE_URL": "postgresql://nobody@256.0.0.1/x"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_server_attribute_builds_from_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    code = ("import app; s = app.server; assert s is app.server; "
            "print(s.config['SESSION_COOKIE_SAMESITE'], s.config['SESSION_COOKIE_HTTPONLY'], "
            "s.config['CT_CONFIG'].database_url)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "CARBONTRACK_DATABASE_URL": url,
                              "CARBONTRACK_DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Lax", "True", url]


def test_app_settings_and_local_assets(tmp_path):
    engine, Session, _, url = make_web_db(tmp_path / "w.db")
    app = create_app(web_config(url, tmp_path), Session)
    server = app.server
    assert server.config["SECRET_KEY"] == web_config(url, tmp_path).secret_key
    assert server.config["SESSION_COOKIE_HTTPONLY"] and server.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app._background_manager is not None
    assert (tmp_path / "data" / "cache").is_dir()
    client = server.test_client()
    login(client, "hq")
    page = client.get("/hq").get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    assert "00-bootstrap.min.css" in page
    resp = client.get("/hq")
    assert resp.headers["X-Frame-Options"] == "DENY"
    engine.dispose()


def test_root_redirects_by_role(tmp_path):
    engine, Session, _, url = make_web_db(tmp_path / "r.db")
    app = create_app(web_config(url, tmp_path), Session)
    for username, home in (("kagwe", "/factory/live"), ("hq", "/hq"), ("auditor", "/hq")):
        client = app.server.test_client()
        login(client, username)
        assert client.get("/").headers["Location"] == home
    engine.dispose()

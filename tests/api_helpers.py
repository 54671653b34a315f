"""API test helpers: a token per role, and the whole app served on a real port in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from core.accounts.tokens import create_token
from core.models import User

USERS = ("admin", "hq", "auditor", "kagwe", "mataara")


def make_tokens(Session: sessionmaker[Session], usernames=USERS) -> dict[str, str]:  # noqa: ANN001, N803
    """Create one token per user (web_helpers' users) and return username -> token text."""
    out = {}
    with Session() as s:
        for name in usernames:
            row = s.scalar(sa.select(User).where(User.username == name))
            _, out[name] = create_token(s, row, f"test {name}")
        s.commit()
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def live_server(wsgi_app) -> Iterator[str]:  # noqa: ANN001
    """Serve `wsgi_app` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)

"""Property-based run of the whole OpenAPI document against the live app (PostgreSQL, real tokens).

Schemathesis generates requests from /api/openapi.json for every operation and every role's token
and checks each answer: never a 5xx, the status code and content type documented, the body
matching its schema. Token revocation is left out (it would revoke the token the run uses; it has
its own tests in test_api.py). Left out too: schemathesis' "positive data acceptance" check, which
expects every schema-valid request to succeed; rules across parameters (`end` after `start`, at
most 31 days, a unit the source is logged in, a month not in the future) are in the descriptions,
not expressible in the schema, and answer 422 by design (test_api.py tests them).
"""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import bearer, live_server, make_tokens
from conftest import _pg_available, create_pg_database, drop_pg_database, require_or_skip
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from web_helpers import build_small_db, web_config

import core.accounts.tokens as tokens
from api import spec_json
from app import create_app
from core.db import make_engine, make_session_factory

ROLES = ("admin", "hq", "auditor", "kagwe")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    require_or_skip(_pg_available(), "PostgreSQL")
    url = create_pg_database("ct_api_fuzz", migrated=True)
    engine = None
    try:
        engine = make_engine(url)
        Session = make_session_factory(engine)  # noqa: N806
        build_small_db(Session)
        toks = make_tokens(Session, ROLES)
        app = create_app(web_config(url, tmp_path_factory.mktemp("fuzz")), Session)
        old_delay, old_limit = tokens.FAILURE_DELAY_S, tokens.TOKEN_THROTTLE.limit
        tokens.FAILURE_DELAY_S = 0.0
        # schemathesis' ignored_auth check replays requests with an invalid token; with the real
        # limit (20 per address) the rest of the run would only see 429s from 127.0.0.1.
        tokens.TOKEN_THROTTLE.limit = 10**9
        try:
            with live_server(app.server) as base:
                yield base, toks
        finally:
            # schemathesis also sends requests with no or bad tokens: forget them for later modules
            tokens.FAILURE_DELAY_S, tokens.TOKEN_THROTTLE.limit = old_delay, old_limit
            tokens.TOKEN_THROTTLE.reset()
    finally:
        if engine is not None:
            engine.dispose()
        drop_pg_database(url)


# The document is static (no database needed), so it is loaded at collection; the same document
# is served at /api/openapi.json (test_api.py checks they are equal).
schema = schemathesis.openapi.from_dict(spec_json()).exclude(method="DELETE", path_regex="/tokens/")


@pytest.mark.postgres
@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_fuzz_no_server_error_and_matches_spec(case, live_api):
    base, toks = live_api
    for role in ROLES:  # each generated request once with every role's token
        response = case.call(base_url=base, headers=bearer(toks[role]))
        case.validate_response(response, headers=bearer(toks[role]), excluded_checks=[positive_data_acceptance])
        # Negative cases may drop the token on purpose (401 is then right); when it was sent, it
        # must have been accepted, or the run would be testing the refusal page only.
        if response.request.headers.get("Authorization"):
            assert response.status_code not in (401, 429), f"{role}: token refused: {response.text}"
        else:
            assert response.status_code == 401

"""The caller's own API tokens: who am I, list, create, revoke."""

from __future__ import annotations

import sqlalchemy as sa
from flask_openapi3 import APIBlueprint, Tag

from api.deps import db, operation_id, user
from api.problems import COMMON_RESPONSES, ApiProblem
from api.schemas import IdPath, Me, TokenCreate, TokenCreated, TokenList, TokenOut  # noqa: F401 (TokenCreated: spec)
from core.accounts.tokens import TokenError, create_token, list_tokens, revoke_token
from core.models import User

bp = APIBlueprint("tokens", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="tokens")],
                  abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)


@bp.get("/me", summary="The user the token acts as", responses={200: Me})
def get_me():  # noqa: ANN201
    """Username, role and (for a factory manager) factory of the token's user."""
    u = user()
    return {"id": u.id, "username": u.username, "role": u.role, "factory_id": u.factory_id}


@bp.get("/tokens", summary="The caller's tokens with last use", responses={200: TokenList})
def list_my_tokens():  # noqa: ANN201
    """The caller's own tokens, newest first, revoked ones included (`revoked_at`); never the token text."""
    with db() as s:
        return {"items": [TokenOut.model_validate(t).model_dump(mode="json") for t in list_tokens(s, user())]}


@bp.post("/tokens", summary="Create another token for the caller", responses={201: TokenCreated})
def create_my_token(body: TokenCreate):  # noqa: ANN201
    """The answer holds the token text once; only its hash is stored."""
    with db() as s:
        row = s.scalar(sa.select(User).where(User.id == user().id))
        try:
            token, text = create_token(s, row, body.name, body.expires_days, actor=user())
        except TokenError as exc:
            raise ApiProblem(422, str(exc)) from exc
        s.commit()
        out = {**TokenOut.model_validate(token).model_dump(mode="json"), "token": text}
    return out, 201


@bp.delete("/tokens/<int:id>", summary="Revoke one of the caller's tokens", responses={204: None})
def revoke_my_token(path: IdPath):  # noqa: ANN201
    """Revoked at once (also the token making this request, if it is the one named)."""
    with db() as s:
        try:
            revoke_token(s, user(), path.id)
        except TokenError as exc:
            raise LookupError(f"no token {path.id}") from exc
        s.commit()
    return "", 204

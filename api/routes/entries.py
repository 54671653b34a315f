"""A factory-month's energy entry: read, save a draft, submit, approve, return — through core.inventory.entry.

The same functions as the portal's entry page do the work, so the validation, the audit log and
the rules (a factory manager enters their own factory, approved months are locked, HQ and admins
approve, only admins reopen an approved month) are the portal's, not a copy.

Concurrent edits (issue 18): GET answers the month's `version` (and an `ETag`); a client sends it
back (`If-Match: "<version>"` or `version` in the body) with a save, submission, approval or
return, and a month changed meanwhile is a 409 naming who changed it and when, never a silent
overwrite. Without a version the change still cannot interleave with a concurrent one (row lock).
"""

from __future__ import annotations

import re

import flask
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api.deps import db, month_of, operation_id, tz, user
from api.problems import COMMON_RESPONSES, CONFLICT, FORBIDDEN, ApiProblem
from api.schemas import EntryIn, EntryOut, FactoryMonthPath, ReasonIn
from core.access import can_enter_data
from core.audit import StaleEdit
from core.insights.api_queries import visible_factory_id
from core.inventory.entry import (
    SUBMITTED_NO_DRAFT,
    EntryError,
    EntryForm,
    SourceInput,
    approve,
    get_submission,
    reopen,
    save_entry,
    submission_version,
    validate,
)
from core.inventory.factors import load_factor_set
from core.models import STATUS_APPROVED, STATUS_SUBMITTED, Factory, MonthlySubmission
from core.timeutil import local_date, utcnow

bp = APIBlueprint("entries", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="energy entries")],
                  abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)
ENTRY_PATH = "/factories/<int:factory_id>/months/<month>/entry"


def entry_dict(factory_id: int, month: str, sub: MonthlySubmission | None, warnings: list[str] | None = None) -> dict:
    """Shape a submission (or its absence) for the API."""
    if sub is None:
        return EntryOut(factory_id=factory_id, month=month, status="missing", sources=[], green_leaf_kg=None,
                        made_tea_kg=None, note=None, submitted_at=None, approved_at=None, updated_at=None,
                        version=0, warnings=warnings or []).model_dump(mode="json")
    return EntryOut(
        factory_id=factory_id, month=month, status=sub.status,
        sources=[{"source": e.source, "quantity": e.quantity, "unit": e.unit, "moisture_fraction": e.moisture_fraction,
                  "density_kg_m3": e.density_kg_m3} for e in sub.entries],
        green_leaf_kg=sub.green_leaf_kg, made_tea_kg=sub.made_tea_kg, note=sub.note, submitted_at=sub.submitted_at,
        approved_at=sub.approved_at, updated_at=sub.updated_at, version=sub.version,
        approved_version=sub.approved_version, warnings=warnings or [],
    ).model_dump(mode="json")


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$')
STALE_RACE = ("The month was changed by someone else at the same moment: GET it again and check the current "
              "figures before retrying.")


def expected_version(body_version: int | None = None) -> int | None:
    """The version the client saw: `If-Match: "<n>"` (or `*`: any) or `version` in the body; None: no check."""
    header = flask.request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return body_version
    m = _ETAG.match(header)
    if m is None or int(m.group(1)) >= 2**31:
        raise ApiProblem(400, 'If-Match must be the version read, e.g. If-Match: "3".')
    if body_version is not None and body_version != int(m.group(1)):
        raise ApiProblem(400, "If-Match and version in the body differ; send one version.")
    return int(m.group(1))


def answer(factory_id: int, month: str, sub: MonthlySubmission | None, warnings: list[str] | None = None):  # noqa: ANN201
    """The entry with its version as the ETag."""
    return entry_dict(factory_id, month, sub, warnings), 200, {"ETag": f'"{submission_version(sub)}"'}


def _conflict(exc: Exception) -> ApiProblem:
    """A stale version or a racing writer: 409 with who changed the month and when."""
    if isinstance(exc, StaleEdit):
        return ApiProblem(409, exc.message, headers={"ETag": f'"{exc.current_version or 0}"'})
    return ApiProblem(409, STALE_RACE)


def _form(month: str, body: EntryIn) -> EntryForm:
    """Build core's EntryForm from the body: listed sources only (a source left out is not used this month)."""
    sources: dict[str, SourceInput] = {}
    for line in body.sources:
        if line.source in sources:
            raise ApiProblem(422, f"{line.source} is listed twice; give each source once.")
        if line.source != "firewood" and (line.moisture_pct is not None or line.density_kg_m3 is not None):
            raise ApiProblem(422, f"{line.source}: moisture_pct and density_kg_m3 are for firewood only.")
        sources[line.source] = SourceInput(
            line.quantity, line.unit, None if line.moisture_pct is None else line.moisture_pct / 100.0,
            line.density_kg_m3)
    return EntryForm(month_of(month), sources, body.green_leaf_kg, body.made_tea_kg, body.note)


def _save(factory_id: int, month: str, body: EntryIn, submit: bool):  # noqa: ANN202
    form = _form(month, body)
    version = expected_version(body.version)
    with db() as s:
        visible_factory_id(s, user(), factory_id)
        if not can_enter_data(user(), factory_id):
            raise ApiProblem(403, "You may not enter data for this factory (factory managers enter their own; "
                                  "admins may correct any).")
        # Bad figures are 422 and a month whose state forbids the change is 409; core raises one
        # EntryError for both, so check the figures with core's own validate first, then the state.
        factors = load_factor_set(s)
        density = s.get(Factory, factory_id).firewood_density_kg_m3
        check = validate(form, factors, None, density, local_date(utcnow(), tz()))
        if not check.ok:
            raise ApiProblem(422, " ".join(check.errors))
        current = get_submission(s, user(), factory_id, form.month)
        if version is not None and version != submission_version(current):
            s.rollback()
            raise _conflict(StaleEdit(stale_text(s, factory_id, form.month), submission_version(current)))
        if current is not None and current.status == STATUS_APPROVED:
            raise ApiProblem(409, "This month is approved and locked. An admin can reopen it with a reason.")
        if current is not None and current.status == STATUS_SUBMITTED and not submit:
            raise ApiProblem(409, SUBMITTED_NO_DRAFT)
        try:
            sub, check = save_entry(s, user(), factory_id, form, factors, submit=submit, tz=tz(),
                                    expected_version=version)
            s.commit()
        except (StaleEdit, IntegrityError, StaleDataError) as exc:
            s.rollback()
            raise _conflict(exc) from exc
        except EntryError as exc:
            s.rollback()
            raise ApiProblem(422, str(exc)) from exc
        return answer(factory_id, month, sub, check.warnings)


def stale_text(s, factory_id: int, month) -> str:  # noqa: ANN001
    """The "changed by X at T" message for a month whose version differs from the client's."""
    from core.audit import stale_message

    code = s.get(Factory, factory_id).code
    entity_id = f"{code}/{month:%Y-%m}"
    return stale_message(s, f"The month {entity_id}", "monthly_submission", entity_id, tz())


@bp.get(ENTRY_PATH, summary="A factory-month's energy and production entry", responses={200: EntryOut})
def get_entry(path: FactoryMonthPath):  # noqa: ANN201
    """The month's sources, production and status; `status` is `missing` when nothing is saved yet."""
    with db() as s:
        visible_factory_id(s, user(), path.factory_id)
        sub = get_submission(s, user(), path.factory_id, month_of(path.month))
        return answer(path.factory_id, path.month, sub)


@bp.put(ENTRY_PATH, summary="Save the month as a draft (replaces the draft)",
        responses={200: EntryOut, **FORBIDDEN, **CONFLICT})
def put_entry(path: FactoryMonthPath, body: EntryIn):  # noqa: ANN201
    """Validate and save as a draft, with the portal's rules; every changed field goes to the audit log.

    Sources not listed are removed from the month. A submitted month cannot go back to draft
    (409: submit again with corrections, or ask HQ to return it); an approved month is locked (409).
    """
    return _save(path.factory_id, path.month, body, submit=False)


@bp.post(f"{ENTRY_PATH}/submit", summary="Save and submit the month to HQ",
         responses={200: EntryOut, **FORBIDDEN, **CONFLICT})
def submit_entry(path: FactoryMonthPath, body: EntryIn):  # noqa: ANN201
    """Like PUT, then the month waits for HQ's approval; submitting again records a correction."""
    return _save(path.factory_id, path.month, body, submit=True)


@bp.post(f"{ENTRY_PATH}/approve", summary="Approve a submitted month (HQ, admin)",
         responses={200: EntryOut, **FORBIDDEN, **CONFLICT})
def approve_entry(path: FactoryMonthPath):  # noqa: ANN201
    """The month is then locked; only an admin can reopen it.

    Send `If-Match: "<version>"` with the version you read: a month changed since is refused (409)
    instead of approving figures you never saw. `approved_version` names the version approved.
    """
    version = expected_version()
    with db() as s:
        visible_factory_id(s, user(), path.factory_id)
        try:
            sub = approve(s, user(), path.factory_id, month_of(path.month), expected_version=version, tz=tz())
            s.commit()
        except (StaleEdit, IntegrityError, StaleDataError) as exc:
            s.rollback()
            raise _conflict(exc) from exc
        except EntryError as exc:
            s.rollback()
            raise ApiProblem(409, str(exc)) from exc
        return answer(path.factory_id, path.month, sub)


@bp.post(f"{ENTRY_PATH}/return", summary="Return the month to the factory as a draft, with a reason",
         responses={200: EntryOut, **FORBIDDEN, **CONFLICT})
def return_entry(path: FactoryMonthPath, body: ReasonIn):  # noqa: ANN201
    """HQ and admins return a submitted month; only an admin reopens an approved one."""
    version = expected_version(body.version)
    with db() as s:
        visible_factory_id(s, user(), path.factory_id)
        current = get_submission(s, user(), path.factory_id, month_of(path.month))
        if current is None or current.status not in (STATUS_SUBMITTED, STATUS_APPROVED):
            raise ApiProblem(409, "Only a submitted or approved month can be returned.")
        try:
            sub = reopen(s, user(), path.factory_id, month_of(path.month), body.reason, expected_version=version,
                         tz=tz())
            s.commit()
        except (StaleEdit, IntegrityError, StaleDataError) as exc:
            s.rollback()
            raise _conflict(exc) from exc
        except EntryError as exc:
            s.rollback()
            raise ApiProblem(422, str(exc)) from exc
        return answer(path.factory_id, path.month, sub)

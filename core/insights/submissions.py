"""The HQ submission grid (issue 17): each allowed factory × each month, the month's status.

A cell is one of approved / submitted / draft / missing / not yet due, with its due time
(`core.inventory.monthly.due_datetime`: the end of the SUBMISSION_DUE_DAY of the next month, local
time) and a late mark: submitted after the due time, or not submitted although it has passed.
Scoped by `core.access.allowed_factory_ids` like every dashboard query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import UserLike, allowed_factory_ids
from core.inventory.monthly import due_datetime
from core.models import STATUS_APPROVED, STATUS_DRAFT, STATUS_SUBMITTED, Factory, MonthlySubmission
from core.timeutil import DEFAULT_TZ, month_start, utcnow

MISSING = "missing"
NOT_YET_DUE = "not yet due"
CELL_STATUSES = (STATUS_APPROVED, STATUS_SUBMITTED, STATUS_DRAFT, MISSING, NOT_YET_DUE)


@dataclass(frozen=True)
class Cell:
    status: str  # one of CELL_STATUSES
    late: bool  # submitted after the due time, or still not submitted once it has passed
    due_at: datetime
    submitted_at: datetime | None = None

    @property
    def text(self) -> str:
        """What the cell says: the status, and the late mark in words ("approved · late")."""
        if not self.late:
            return self.status
        return f"{self.status} · {'late' if self.submitted_at is not None else 'overdue'}"


@dataclass
class FactoryRow:
    factory_id: int
    code: str
    name: str
    region: int
    cells: dict[date, Cell] = field(default_factory=dict)


def cell_for(status: str | None, submitted_at: datetime | None, due_at: datetime, now: datetime) -> Cell:
    """The cell for one factory-month from its submission's status (None: no submission row)."""
    if status in (STATUS_APPROVED, STATUS_SUBMITTED):
        late = submitted_at is not None and submitted_at > due_at
        return Cell(status, late, due_at, submitted_at)
    overdue = now >= due_at
    if status == STATUS_DRAFT:
        return Cell(STATUS_DRAFT, overdue, due_at)
    return Cell(MISSING if overdue else NOT_YET_DUE, overdue, due_at)


def submission_grid(session: Session, user: UserLike | None, months: Sequence[date], now: datetime | None = None,
                    tz: tzinfo = DEFAULT_TZ) -> list[FactoryRow]:
    """Return one row per allowed factory (by name) with a cell per month of `months`."""
    now = now or utcnow()
    months = sorted({month_start(m) for m in months})
    ids = allowed_factory_ids(session, user)
    if not ids or not months:
        return []
    subs = {
        (fid, m): (status, submitted_at)
        for fid, m, status, submitted_at in session.execute(
            sa.select(MonthlySubmission.factory_id, MonthlySubmission.month, MonthlySubmission.status,
                      MonthlySubmission.submitted_at)
            .where(MonthlySubmission.factory_id.in_(ids), MonthlySubmission.month >= months[0],
                   MonthlySubmission.month <= months[-1]))
    }
    due = {m: due_datetime(m, tz) for m in months}
    rows = []
    for fid, code, name, region in session.execute(
            sa.select(Factory.id, Factory.code, Factory.name, Factory.region)
            .where(Factory.id.in_(ids)).order_by(Factory.name)):
        row = FactoryRow(fid, code, name, region)
        for m in months:
            status, submitted_at = subs.get((fid, m), (None, None))
            row.cells[m] = cell_for(status, submitted_at, due[m], now)
        rows.append(row)
    return rows

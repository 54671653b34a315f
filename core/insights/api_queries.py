"""Read-only queries the REST API needs beyond what the portals already use, scoped like them.

Every function takes the user and checks `core.access` itself. A factory the user may not see is
reported exactly like a factory that does not exist (`LookupError`), so an API answer never tells
a factory manager which other factory ids exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from core.access import UserLike, allowed_factory_ids, can_read_factory
from core.models import Device, Factory, FactoryHourly, Reading
from core.timeutil import as_utc

MAX_PAGE_SIZE = 5000


def visible_factory(session: Session, user: UserLike | None, factory_id: int) -> Factory:
    """Return the factory (stacks and devices loaded) if `user` may see it; LookupError otherwise."""
    if not can_read_factory(user, factory_id):
        raise LookupError(f"no factory {factory_id}")
    factory = session.scalar(sa.select(Factory).where(Factory.id == factory_id)
                             .options(selectinload(Factory.stacks), selectinload(Factory.devices)))
    if factory is None:
        raise LookupError(f"no factory {factory_id}")
    return factory


def visible_factories(session: Session, user: UserLike | None, page: int = 1,
                      page_size: int = 100) -> tuple[list[Factory], int]:
    """Return one page of the factories `user` may see (ordered by code) and how many there are."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return [], 0
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    q = (sa.select(Factory).where(Factory.id.in_(ids)).order_by(Factory.code)
         .options(selectinload(Factory.stacks), selectinload(Factory.devices))
         .offset((max(page, 1) - 1) * page_size).limit(page_size))
    return list(session.scalars(q)), len(ids)


READING_COLUMNS = ("id", "device_id", "ts", "seq", "co2_ppm", "flue_temp_c", "velocity_m_s", "pressure_pa", "co2_kg_s",
                   "quality", "quality_reason")


@dataclass
class ReadingPage:
    rows: list[sa.Row]  # READING_COLUMNS, by name
    total: int


def readings_page(session: Session, user: UserLike | None, factory_id: int, start: datetime, end: datetime,
                  device_id: str | None = None, page: int = 1, page_size: int = 1000) -> ReadingPage:
    """Return one page of a factory's readings with start <= ts < end, oldest first (valid or not)."""
    visible_factory_id(session, user, factory_id)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    where = [Reading.factory_id == factory_id, Reading.ts >= as_utc(start), Reading.ts < as_utc(end)]
    if device_id is not None:
        where.append(Reading.device_id == device_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(Reading).where(*where)) or 0
    # Columns, not ORM objects: a day of readings is thousands of rows and identity-mapping them
    # cost more than the query (measured in bench/bench_api.py).
    rows = list(session.execute(sa.select(*(getattr(Reading, c) for c in READING_COLUMNS)).where(*where)
                                .order_by(Reading.ts, Reading.id)
                                .offset((max(page, 1) - 1) * page_size).limit(page_size)))
    return ReadingPage(rows, int(total))


def visible_factory_id(session: Session, user: UserLike | None, factory_id: int) -> int:
    """Return `factory_id` if `user` may see it and it exists; LookupError otherwise (no row loading)."""
    if not can_read_factory(user, factory_id) or session.get(Factory, factory_id) is None:
        raise LookupError(f"no factory {factory_id}")
    return factory_id


def factory_device(session: Session, user: UserLike | None, factory_id: int, device_id: str) -> Device:
    """Return the factory's device if `user` may see the factory; LookupError otherwise."""
    visible_factory_id(session, user, factory_id)
    device = session.get(Device, device_id)
    if device is None or device.factory_id != factory_id:
        raise LookupError(f"no device {device_id} at factory {factory_id}")
    return device


def hourly_emissions(session: Session, user: UserLike | None, factory_id: int, start: datetime,
                     end: datetime) -> Sequence[FactoryHourly]:
    """Return the factory's hourly rollups with start <= hour < end (hours without data are absent)."""
    visible_factory_id(session, user, factory_id)
    return list(session.scalars(
        sa.select(FactoryHourly).where(FactoryHourly.factory_id == factory_id, FactoryHourly.hour >= as_utc(start),
                                       FactoryHourly.hour < as_utc(end)).order_by(FactoryHourly.hour)))

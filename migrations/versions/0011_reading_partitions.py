"""reading partitioned by local month on PostgreSQL; retention horizon; (factory_id, ts) index

Revision ID: 0011_reading_partitions
Revises: 0004_api_tokens

PostgreSQL: the plain `reading` table becomes a declarative range-partitioned table (one
partition per local month in CARBONTRACK_TZ, plus a default partition), primary key (id, ts).
The conversion renames the old table, creates the new one with `LIKE` (so every column a later
migration added comes along, with its type, NOT NULL and default — the id sequence included),
creates the partitions for the months present plus a few ahead, copies the rows, hands the id
sequence over, recreates the constraints, indexes and foreign keys, and drops the old table. It
holds an ACCESS EXCLUSIVE lock for the copy: run it in a maintenance window (a year of a 67-node
fleet at one reading a minute, 35 M rows, copies in minutes, not seconds).
SQLite: the table stays as it is. Both: `ix_reading_ts` is replaced by (factory_id, ts), and the
`retention_horizon` table is created.

Self-contained on purpose (no core.models import): a later model refactor must not break it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0011_reading_partitions"
down_revision = "0004_api_tokens"
branch_labels = None
depends_on = None

# Months created after the later of "now" and the newest reading (core.measurement.retention
# keeps creating them: `carbontrack partitions`, run by `carbontrack retention` and the listener).
AHEAD_MONTHS = 3


def _tz() -> ZoneInfo:
    return ZoneInfo((os.environ.get("CARBONTRACK_TZ") or "Africa/Nairobi").strip())


def _month_start_utc(month: date, tz: ZoneInfo) -> datetime:
    """Naive UTC instant of local midnight on the first day of `month`."""
    return datetime(month.year, month.month, 1, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _add_month(month: date, n: int = 1) -> date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def _local_month(ts: datetime, tz: ZoneInfo) -> date:
    d = ts.replace(tzinfo=UTC).astimezone(tz).date()
    return d.replace(day=1)


def _create_partitions(bind, first: date, last: date, tz: ZoneInfo) -> None:  # noqa: ANN001
    month = first
    while month <= last:
        lo, hi = _month_start_utc(month, tz), _month_start_utc(_add_month(month), tz)
        bind.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS reading_p{month:%Y_%m} PARTITION OF reading "
            f"FOR VALUES FROM ('{lo:%Y-%m-%d %H:%M:%S}') TO ('{hi:%Y-%m-%d %H:%M:%S}')"
        ))
        month = _add_month(month)


def _is_partitioned(bind) -> bool:  # noqa: ANN001
    return bool(bind.scalar(sa.text("SELECT relkind = 'p' FROM pg_class WHERE oid = 'reading'::regclass")))


def _rename_old(bind, suffix: str) -> None:  # noqa: ANN001
    """Rename `reading` and its constraints and indexes out of the way (names are per schema)."""
    bind.execute(sa.text(f"ALTER TABLE reading RENAME TO reading{suffix}"))
    for (name,) in bind.execute(sa.text(
        "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f')"
    ), {"t": f"reading{suffix}"}).all():
        bind.execute(sa.text(f'ALTER TABLE reading{suffix} RENAME CONSTRAINT "{name}" TO "{name}{suffix}"'))
    for (name,) in bind.execute(sa.text(
        "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexname NOT LIKE '%' || :s"
    ), {"t": f"reading{suffix}", "s": suffix}).all():
        bind.execute(sa.text(f'ALTER INDEX "{name}" RENAME TO "{name}{suffix}"'))


def _constraints(bind, pk: str) -> None:  # noqa: ANN001
    bind.execute(sa.text(f"ALTER TABLE reading ADD CONSTRAINT pk_reading PRIMARY KEY ({pk})"))
    bind.execute(sa.text("ALTER TABLE reading ADD CONSTRAINT uq_reading_device_ts UNIQUE (device_id, ts)"))
    bind.execute(sa.text("ALTER TABLE reading ADD CONSTRAINT fk_reading_device_id_device "
                         "FOREIGN KEY (device_id) REFERENCES device (id)"))
    bind.execute(sa.text("ALTER TABLE reading ADD CONSTRAINT fk_reading_factory_id_factory "
                         "FOREIGN KEY (factory_id) REFERENCES factory (id)"))
    bind.execute(sa.text("CREATE INDEX ix_reading_device_seq ON reading (device_id, seq)"))


def _take_sequence(bind, old: str) -> None:  # noqa: ANN001
    """Make the id sequence belong to the new table (dropping the old one would drop it)."""
    seq = bind.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": old})
    if seq:
        bind.execute(sa.text(f"ALTER SEQUENCE {seq} OWNED BY reading.id"))


def upgrade() -> None:
    op.create_table(
        "retention_horizon",
        sa.Column("data", sa.String(length=40), nullable=False),
        sa.Column("kept_from", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("data", name=op.f("pk_retention_horizon")),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("reading") as batch:
            batch.drop_index("ix_reading_ts")
            batch.create_index("ix_reading_factory_ts", ["factory_id", "ts"])
        return
    if _is_partitioned(bind):
        return
    tz = _tz()
    _rename_old(bind, "_old")
    # LIKE copies every column (types, NOT NULL, the id default from its sequence), in order.
    bind.execute(sa.text("CREATE TABLE reading (LIKE reading_old INCLUDING DEFAULTS INCLUDING STORAGE) PARTITION BY RANGE (ts)"))
    _constraints(bind, "id, ts")
    bind.execute(sa.text("CREATE INDEX ix_reading_factory_ts ON reading (factory_id, ts)"))
    lo, hi = bind.execute(sa.text("SELECT min(ts), max(ts) FROM reading_old")).one()
    now = datetime.now(UTC).replace(tzinfo=None)
    first = _local_month(lo or now, tz)
    last = _add_month(_local_month(max(hi or now, now), tz), AHEAD_MONTHS)
    _create_partitions(bind, first, last, tz)
    bind.execute(sa.text("CREATE TABLE IF NOT EXISTS reading_default PARTITION OF reading DEFAULT"))
    bind.execute(sa.text("INSERT INTO reading SELECT * FROM reading_old"))
    _take_sequence(bind, "reading_old")
    bind.execute(sa.text("DROP TABLE reading_old"))
    bind.execute(sa.text("ANALYZE reading"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("reading") as batch:
            batch.drop_index("ix_reading_factory_ts")
            batch.create_index("ix_reading_ts", ["ts"])
    elif _is_partitioned(bind):
        _rename_old(bind, "_part")
        bind.execute(sa.text("CREATE TABLE reading (LIKE reading_part INCLUDING DEFAULTS INCLUDING STORAGE)"))
        _constraints(bind, "id")
        bind.execute(sa.text("CREATE INDEX ix_reading_ts ON reading (ts)"))
        bind.execute(sa.text("INSERT INTO reading SELECT * FROM reading_part"))
        _take_sequence(bind, "reading_part")
        bind.execute(sa.text("DROP TABLE reading_part"))  # and its partitions
    op.drop_table("retention_horizon")

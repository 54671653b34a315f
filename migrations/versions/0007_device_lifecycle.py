"""device lifecycle (assignments) and calibration log (issue 12)

Revision ID: 0007_device_lifecycle
Revises: 0010_shared_storage
Create Date: 2026-12-06 18:10:00

Backfill: every existing device gets one assignment to its current stack, commissioned at its
earliest stored reading (no reading: the migration time). An active device's assignment stays
open; an inactive (retired) device's is closed at its newest reading (no reading: when commissioned),
so it counts for the time it measured and never afterwards.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007_device_lifecycle"
down_revision = "0010_shared_storage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    assignment = op.create_table(
        "device_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("factory_id", sa.Integer(), nullable=False),
        sa.Column("stack_id", sa.Integer(), nullable=False),
        sa.Column("commissioned_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("commissioned_by", sa.String(length=80), nullable=True),
        sa.Column("commission_reason", sa.String(length=200), nullable=True),
        sa.Column("retired_by", sa.String(length=80), nullable=True),
        sa.Column("retire_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_device_assignment_device_id_device")),
        sa.ForeignKeyConstraint(["factory_id"], ["factory.id"], name=op.f("fk_device_assignment_factory_id_factory")),
        sa.ForeignKeyConstraint(["stack_id"], ["stack.id"], name=op.f("fk_device_assignment_stack_id_stack")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_assignment")),
    )
    with op.batch_alter_table("device_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_assignment_factory_id"), ["factory_id"], unique=False)
        batch_op.create_index("ix_device_assignment_device_commissioned", ["device_id", "commissioned_at"], unique=False)

    op.create_table(
        "calibration_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("analyser", sa.String(length=40), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("reference_ppm", sa.Float(), nullable=False),
        sa.Column("certificate", sa.String(length=80), nullable=True),
        sa.Column("measured_ppm", sa.Float(), nullable=False),
        sa.Column("expected_ppm", sa.Float(), nullable=False),
        sa.Column("span_ppm", sa.Float(), nullable=False),
        sa.Column("error_pct", sa.Float(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_calibration_check_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_check")),
    )
    with op.batch_alter_table("calibration_check", schema=None) as batch_op:
        batch_op.create_index("ix_calibration_check_device_checked", ["device_id", "checked_at"], unique=False)

    _backfill(assignment)


def _backfill(assignment: sa.Table) -> None:
    bind = op.get_bind()
    device = sa.table("device", sa.column("id"), sa.column("factory_id"), sa.column("stack_id"), sa.column("active"))
    reading = sa.table("reading", sa.column("device_id"), sa.column("ts"))
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for dev_id, factory_id, stack_id, active in bind.execute(
        sa.select(device.c.id, device.c.factory_id, device.c.stack_id, device.c.active)
    ).all():
        # One index lookup each on uq_reading_device_ts (device_id, ts).
        first = bind.scalar(sa.select(sa.func.min(reading.c.ts)).where(reading.c.device_id == dev_id))
        last = bind.scalar(sa.select(sa.func.max(reading.c.ts)).where(reading.c.device_id == dev_id))
        start = first or now
        rows.append({
            "device_id": dev_id, "factory_id": factory_id, "stack_id": stack_id, "commissioned_at": start,
            "retired_at": None if active else (last or start),
            "commissioned_by": "migration 0007", "commission_reason": "backfill: earliest stored reading",
            "retired_by": None if active else "migration 0007",
            "retire_reason": None if active else "backfill: inactive device, newest stored reading",
            "created_at": now,
        })
    if rows:
        op.bulk_insert(assignment, rows)


def downgrade() -> None:
    with op.batch_alter_table("calibration_check", schema=None) as batch_op:
        batch_op.drop_index("ix_calibration_check_device_checked")
    op.drop_table("calibration_check")
    with op.batch_alter_table("device_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_device_assignment_device_commissioned")
        batch_op.drop_index(batch_op.f("ix_device_assignment_factory_id"))
    op.drop_table("device_assignment")

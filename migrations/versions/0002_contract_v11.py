"""contract v1.1: reading flags, interval, coverage, dp and node conversion parameters; device ack and health

Revision ID: 0002_contract_v11
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_contract_v11"
down_revision = "0001"
branch_labels = None
depends_on = None

READING_COLUMNS = (
    ("flags", sa.Integer()),
    ("interval_s", sa.Float()),
    ("covered_s", sa.Float()),
    ("dp_pa", sa.Float()),
    ("node_diameter_m", sa.Float()),
    ("node_velocity_profile_factor", sa.Float()),
    ("node_pitot_k", sa.Float()),
)
DEVICE_COLUMNS = (
    ("acked_seq", sa.BigInteger()),
    ("reported_interval_s", sa.Float()),
    ("reset_reason", sa.String(length=32)),
    ("free_heap", sa.Integer()),
    ("min_free_heap", sa.Integer()),
    ("safe_mode", sa.Boolean()),
    ("health_counters", sa.Text()),
    ("health_at", sa.DateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("reading") as batch:
        for name, type_ in READING_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("device") as batch:
        for name, type_ in DEVICE_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("rejected_message") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index("ix_reading_device_seq", "reading", ["device_id", "seq"])
    op.create_index("ix_rejected_message_device_seq", "rejected_message", ["device_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_rejected_message_device_seq", table_name="rejected_message")
    op.drop_index("ix_reading_device_seq", table_name="reading")
    with op.batch_alter_table("rejected_message") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("device") as batch:
        for name, _ in reversed(DEVICE_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("reading") as batch:
        for name, _ in reversed(READING_COLUMNS):
            batch.drop_column(name)

"""issue 17 item 6: an index on rollup_device_hourly.hour

The HQ overview's data availability (core.measurement.availability: valid node-hours of the last 30
days across every node) reads the hourly device rollups by hour. With only the (device_id, hour)
key it scanned the whole table: 200 ms of the overview's ~250 ms on the demo data (685,000 rows),
27 ms with this index (measured on PostgreSQL, bench/RESULTS.md).

Revision ID: 0015_device_hourly_hour_index
Revises: 0014_user_language
"""

from alembic import op

revision = "0015_device_hourly_hour_index"
down_revision = "0014_user_language"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_rollup_device_hourly_hour", "rollup_device_hourly", ["hour"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rollup_device_hourly_hour", table_name="rollup_device_hourly")

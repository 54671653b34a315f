"""issue 12 follow-up: a partial index on the readings invalid for a reason other than low velocity

Data availability leaves out of its denominator the hours a node measured the stack not running
(core.measurement.availability.non_operating_hours): hours whose readings all failed only the
low-velocity check. Ruling an hour out needs the readings invalid for another reason; this index
holds only those (rare), so the check reads a handful of index entries instead of every reading
of the window (10 nodes x 30 days at 60 s, 432,000 readings, 8 h a day stopped: 138 ms without it, 24 ms
with it, on the shared dev machine).

Revision ID: 0013_qaqc_followup
Revises: 0009_row_versions
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_qaqc_followup"
down_revision = "0009_row_versions"
branch_labels = None
depends_on = None

# Kept identical to core.models.READING_OTHER_INVALID (a migration never imports core.models).
WHERE = "quality <> 0 AND (server_flags IS NULL OR server_flags <> 16)"


def upgrade() -> None:
    op.create_index("ix_reading_other_invalid", "reading", ["device_id", "ts"], unique=False,
                    postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("ix_reading_other_invalid", table_name="reading")

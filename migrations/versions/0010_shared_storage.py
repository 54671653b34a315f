"""shared storage: workbooks and evidence files in the database (issue 18, several web hosts)

Revision ID: 0010_shared_storage
Revises: 0011_reading_partitions
Create Date: 2026-12-06 18:10:00

The table core.storage.DatabaseStore keeps files in. Defined inline (no core.models import) so a
later model refactor cannot break a fresh install. Files already in a data directory are not
copied here: they are read from their old path and copied on first download, or all at once with
`carbontrack storage-sync`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_shared_storage"
down_revision = "0011_reading_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_blob",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_stored_blob")),
    )


def downgrade() -> None:
    op.drop_table("stored_blob")

"""row versions for optimistic concurrency (issue 18)

Revision ID: 0009_row_versions
Revises: 0012_effective_dated
Create Date: 2026-12-06 18:20:00

Each editable record gets an integer version, +1 on every change, so a page or API client that
read an older version is refused instead of overwriting a change it never saw. Monthly
submissions and their energy entries check it in the UPDATE's WHERE (SQLAlchemy
`version_id_col`); factories, stacks, devices and users count admin edits only (the listener and
sign-in update those rows too and must never be refused). Existing rows start at version 1.
`monthly_submission.approved_version` names the version HQ approved.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_row_versions"
down_revision = "0012_effective_dated"
branch_labels = None
depends_on = None

# Tables whose rows are edited in the portal or the API (see docs/operations.md, "Concurrent edits").
VERSIONED = ("monthly_submission", "energy_entry", "factory", "stack", "device", "app_user")


def upgrade() -> None:
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("monthly_submission") as batch:
        batch.add_column(sa.Column("approved_version", sa.Integer(), nullable=True))
    # An approval made before versions existed approved the figures as they stand (version 1).
    op.execute("UPDATE monthly_submission SET approved_version = 1 WHERE status = 'approved'")


def downgrade() -> None:
    with op.batch_alter_table("monthly_submission") as batch:
        batch.drop_column("approved_version")
    for table in reversed(VERSIONED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")

"""quality flags and labelled substitution (issue 12): reading.server_flags, substitute_hour

Revision ID: 0008_quality_substitution
Revises: 0007_device_lifecycle
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_quality_substitution"
down_revision = "0007_device_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on PostgreSQL, however big `reading` is.
    with op.batch_alter_table("reading") as batch:
        batch.add_column(sa.Column("server_flags", sa.Integer(), nullable=True))
    op.create_table(
        "substitute_hour",
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("factory_id", sa.Integer(), nullable=False),
        sa.Column("co2_kg", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("gap_hours", sa.Integer(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_substitute_hour_device_id_device")),
        sa.ForeignKeyConstraint(["factory_id"], ["factory.id"], name=op.f("fk_substitute_hour_factory_id_factory")),
        sa.PrimaryKeyConstraint("device_id", "hour", name=op.f("pk_substitute_hour")),
    )
    op.create_index("ix_substitute_hour_factory_hour", "substitute_hour", ["factory_id", "hour"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_substitute_hour_factory_hour", table_name="substitute_hour")
    op.drop_table("substitute_hour")
    with op.batch_alter_table("reading") as batch:
        batch.drop_column("server_flags")

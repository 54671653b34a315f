"""issue 17 item 5: each user's portal language (English or Swahili), chosen in the navbar

NULL means "not chosen": the portal then follows the language cookie or the browser's
Accept-Language, else English.

Revision ID: 0014_user_language
Revises: 0013_qaqc_followup
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_user_language"
down_revision = "0013_qaqc_followup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("language")

"""alerts.accepted: the email recipients that took an alert its channel has not fully sent

An email to several addresses that fails at the second was sent again to
the first on retry; the retry now skips the recipients recorded here.

Revision ID: 0017d
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017d"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("accepted", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("accepted")

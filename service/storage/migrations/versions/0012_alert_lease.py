"""alert lease: a claim is its own column, apart from the retry schedule

A sender's claim used to push ``next_attempt_at`` one lease ahead, so a pass
that ignores the schedule (``run --once`` retries what is backing off) could
not tell an alert another sender is sending right now from one waiting for
its retry, and took it too: with workers sending, that is an alert sent twice.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("leased_until")

"""alerts.not_before: a floor no sender crosses (a claim's lease, a service's Retry-After)

``next_attempt_at`` is the schedule (backoff, quiet hours, digests) that
``run --once`` may bring forward; ``not_before`` is what it may not.

Revision ID: 0013
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("not_before")

"""feed failures: every failed poll kept (pruned), not only the last one

Revision ID: 0010
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0013"  # chained after main's 0013 (alerts.not_before)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("feed_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feed_failures", schema=None) as batch_op:
        batch_op.create_index("ix_feed_failures_feed_at", ["feed_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("feed_failures")

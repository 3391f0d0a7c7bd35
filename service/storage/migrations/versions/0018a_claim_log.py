"""claim_log: which transaction stored which articles, so a batch can read the
story index before its claim locks and, under them, only what was committed since

Revision ID: 0018a
Revises: 0017d
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018a"
down_revision = "0017d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_log",
        sa.Column("xact", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("xact", "article_id"),
    )
    op.create_index("ix_claim_log_created_at", "claim_log", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_claim_log_created_at", table_name="claim_log")
    op.drop_table("claim_log")

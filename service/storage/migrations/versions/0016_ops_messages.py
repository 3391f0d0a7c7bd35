"""ops_messages: ops notices kept until their channel took them (dead letters, disabled feeds)

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"  # chained after main's 0014 (story bands)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dead_letter_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ops_messages_sent_at", "ops_messages", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_ops_messages_sent_at", table_name="ops_messages")
    op.drop_table("ops_messages")

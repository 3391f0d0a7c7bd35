"""story index: LSH band keys, article shingles, feed segments (near-duplicates)

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "story_bands",
        sa.Column("band", sa.BigInteger(), nullable=False),
        sa.Column("article_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("band", "article_id"),
    )
    op.create_table(
        "article_sketches",
        sa.Column("article_id", _ID, nullable=False),
        sa.Column("shingles", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id"),
    )
    op.create_table(
        "feed_segments",
        sa.Column("feed_id", _ID, nullable=False),
        sa.Column("fingerprint", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feed_id", "fingerprint"),
    )
    op.create_index("ix_stories_updated_at", "stories", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_stories_updated_at", table_name="stories")
    op.drop_table("feed_segments")
    op.drop_table("article_sketches")
    op.drop_table("story_bands")

"""same-event index: salient terms, document frequencies, event vectors; pruning
indexes; the near-copy index restarts (its hashes changed)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"  # after main's 0010 (feed failures)
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "story_terms",
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("article_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "article_id"),
    )
    op.create_index("ix_story_terms_article", "story_terms", ["article_id"])
    op.create_table(
        "term_frequencies",
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", "day", "shard"),
    )
    with op.batch_alter_table("article_sketches") as batch:
        batch.add_column(sa.Column("event", sa.LargeBinary(), nullable=True))
    op.create_index("ix_article_sketches_created_at", "article_sketches", ["created_at"])
    op.create_index("ix_story_bands_article", "story_bands", ["article_id"])
    op.create_index("ix_stories_first_article", "stories", ["first_article_id"])
    # shingle and band hashes changed with this revision (numpy word hashing, 64 bands
    # of 3 rows): rows of the old index would never match again, the window refills it
    op.execute("DELETE FROM story_bands")
    op.execute("DELETE FROM article_sketches")


def downgrade() -> None:
    op.drop_index("ix_stories_first_article", table_name="stories")
    op.drop_index("ix_story_bands_article", table_name="story_bands")
    op.drop_index("ix_article_sketches_created_at", table_name="article_sketches")
    with op.batch_alter_table("article_sketches") as batch:
        batch.drop_column("event")
    op.drop_table("term_frequencies")
    op.drop_index("ix_story_terms_article", table_name="story_terms")
    op.drop_table("story_terms")

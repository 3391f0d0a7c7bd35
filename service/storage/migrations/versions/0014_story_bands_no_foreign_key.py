"""story_bands without its foreign key to articles: 64 checks per article stored

Every indexed article writes 64 band rows; on PostgreSQL each row's foreign
key check is a trigger that looks up and share-locks the article row (half
the time of the batch's band insert, measured). The rows are written in the
transaction that updates their article, and newswatch never deletes
articles; the pruning deletes an old article's bands by its id.

Revision ID: 0014
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no name: the batch copy names them by this convention
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _name() -> str:
    """PostgreSQL's name for the key (0004 left it to the server), else the convention's."""
    if op.get_bind().dialect.name == "postgresql":
        return "story_bands_article_id_fkey"
    return "fk_story_bands_article_id_articles"


def upgrade() -> None:
    with op.batch_alter_table("story_bands", naming_convention=_NAMES) as batch:
        batch.drop_constraint(_name(), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("story_bands") as batch:
        batch.create_foreign_key(_name(), "articles", ["article_id"], ["id"], ondelete="CASCADE")

"""articles: detected language, and the main text fetched for thin entries

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("language", sa.String(length=16)),
    ("full_text", sa.Text()),
    ("full_text_error", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)

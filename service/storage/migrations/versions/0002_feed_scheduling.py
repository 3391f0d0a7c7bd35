"""feed scheduling: effective fetch URL, learned interval, disabling, config hash

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("fetch_url", sa.String(length=2048)),
    ("config_hash", sa.String(length=64)),
    ("interval_seconds", sa.Integer()),
    ("content_hash", sa.String(length=64)),
    ("last_failure_at", sa.DateTime(timezone=True)),
    ("disabled_at", sa.DateTime(timezone=True)),
    ("disabled_reason", sa.Text()),
    ("ops_notified_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)

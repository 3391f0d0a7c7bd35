"""merge the branches written in parallel (feeds, language, stories, alerts,
dead letters, websub) into one head; later migrations follow this one

Revision ID: 0009
Revises: 0002, 0003, 0004, 0005, 0006, 0008
"""

from __future__ import annotations

revision = "0009"
down_revision = ("0002", "0003", "0004", "0005", "0006", "0008")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

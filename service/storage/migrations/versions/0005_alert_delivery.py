"""alert delivery: digest flag on alerts, per-subscription digest state

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        # the alert goes (or went) out in a digest rather than on its own
        batch.add_column(
            sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_alerts_subscription_sent", "alerts", ["subscription_id", "sent_at"])
    op.create_table(
        "subscription_state",
        sa.Column("subscription_id", sa.String(length=256), nullable=False),
        sa.Column("last_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id"),
    )


def downgrade() -> None:
    op.drop_table("subscription_state")
    op.drop_index("ix_alerts_subscription_sent", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("digest")

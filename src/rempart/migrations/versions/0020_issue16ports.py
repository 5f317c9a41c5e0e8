"""issue 16 (ports): deliveries of the signed notification webhook, dead letters included.

Revision ID: 0020_issue16ports
Revises: 0019_issue22b
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0020_issue16ports"
down_revision: str | None = "0019_issue22b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("message_key", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dead_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_message_key"),
        "webhook_deliveries",
        ["message_key"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_state_next_attempt_at",
        "webhook_deliveries",
        ["state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_state_next_attempt_at", table_name="webhook_deliveries")
    op.drop_index(op.f("ix_webhook_deliveries_message_key"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")

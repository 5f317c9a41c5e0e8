"""user reports under attack: every queue reason kept, item versions, per-notice raid
evidence

Revision ID: 0012_issue17reports
Revises: 0011_issue14auth
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_issue17reports"
down_revision: str | None = "0011_issue14auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("reason_marks", sa.String(length=160), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_domain_index", sa.LargeBinary(length=16)))
        batch_op.add_column(sa.Column("email_shape_index", sa.LargeBinary(length=16)))
        batch_op.add_column(
            sa.Column("coordinated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("weight", sa.Float(), nullable=True))
    # Items already waiting keep the reason they had.
    op.execute(
        "UPDATE moderation_items SET reason_marks = ',' || queue_reason || ','"
        " WHERE pending_review AND queue_reason IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name in ("weight", "coordinated", "email_shape_index", "email_domain_index"):
            batch_op.drop_column(name)
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        for name in ("version", "reason_marks", "queue_reasons"):
            batch_op.drop_column(name)

"""review media and signal sources

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 03:51:44.494154
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_media",
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("preview", sa.LargeBinary(), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("kept_until", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["post_media.id"],
            name=op.f("fk_review_media_media_id_post_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_review_media")),
    )
    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_media_kept_until"), ["kept_until"], unique=False
        )

    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signal_sources", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.drop_column("signal_sources")

    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_media_kept_until"))

    op.drop_table("review_media")

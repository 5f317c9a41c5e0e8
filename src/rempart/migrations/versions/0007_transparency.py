"""transparency

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 04:43:53.407262
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transparency_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("published_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transparency_reports")),
    )
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transparency_reports_kind_period", ["kind", "period"], unique=False
        )

    with op.batch_alter_table("statements_of_reasons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dsa_submitted_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("dsa_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("statements_of_reasons", schema=None) as batch_op:
        batch_op.drop_column("dsa_error")
        batch_op.drop_column("dsa_submitted_at")

    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_transparency_reports_kind_period")

    op.drop_table("transparency_reports")

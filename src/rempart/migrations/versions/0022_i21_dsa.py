"""DSA Art. 23(2) for complaints: a complaint marked manifestly unfounded, and the standing
(warning, suspension) of those who file them.

Revision ID: 0022_i21_dsa
Revises: 0021_order_items_by_ref
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0022_i21_dsa"
down_revision: str | None = "0021_order_items_by_ref"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complainant_standings",
        sa.Column("complainant", sa.String(length=160), nullable=False),
        sa.Column("counted_from", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_until", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complainant", name=op.f("pk_complainant_standings")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unfounded_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_column("unfounded_at")
    op.drop_table("complainant_standings")

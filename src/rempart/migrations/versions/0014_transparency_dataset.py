"""transparency dataset: each published report keeps the public dataset it was computed
from, with its inclusion proofs, so that anyone can verify it without the database; and
out-of-court disputes (DSA Art. 21), which the DSA report counts.

Revision ID: 0014_transparency_dataset
Revises: 0013_issue15load
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0014_transparency_dataset"
down_revision: str | None = "0013_issue15load"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        # Reports published before this revision have none: they verify against the log.
        batch_op.add_column(sa.Column("dataset", sa.Text(), nullable=True))
    op.create_table(
        "out_of_court_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("settlement_body", sa.String(length=200), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("implemented", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_out_of_court_disputes")),
        sa.UniqueConstraint("tracking_id", name=op.f("uq_out_of_court_disputes_tracking_id")),
    )


def downgrade() -> None:
    op.drop_table("out_of_court_disputes")
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.drop_column("dataset")

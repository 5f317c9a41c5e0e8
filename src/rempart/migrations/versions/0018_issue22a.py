"""orders to act (DSA Art. 9) and TCO removal orders; preserved evidence

Revision ID: 0018_issue22a
Revises: 0014_transparency_dataset
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0018_issue22a"
down_revision: str | None = "0014_transparency_dataset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "preserved_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("account_ref", sa.String(length=128), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("preserved_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purge_after", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purged_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preserved_evidence")),
    )
    op.create_index(
        op.f("ix_preserved_evidence_item_id"), "preserved_evidence", ["item_id"], unique=False
    )
    op.create_index(
        "ix_preserved_evidence_purge",
        "preserved_evidence",
        ["purged_at", "purge_after"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_preserved_evidence_purge", table_name="preserved_evidence")
    op.drop_index(op.f("ix_preserved_evidence_item_id"), table_name="preserved_evidence")
    op.drop_table("preserved_evidence")

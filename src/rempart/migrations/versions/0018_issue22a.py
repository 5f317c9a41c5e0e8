"""orders to act (DSA Art. 9) and TCO removal orders; preserved evidence

Revision ID: 0018_issue22a
Revises: 0017_issue19b
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0018_issue22a"
down_revision: str | None = "0017_issue19b"
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

    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("competences", sa.JSON(), server_default="[]", nullable=False)
        )
    op.create_table(
        "legal_order_acts",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("territorial_scope", sa.JSON(), nullable=False),
        sa.Column("statement_of_reasons", sa.Text(), nullable=False),
        sa.Column("delay_informing_owner", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column(
            "authority_informed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"],
            ["principals.id"],
            name=op.f("fk_legal_order_acts_confirmed_by_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["legal_orders.id"],
            name=op.f("fk_legal_order_acts_order_id_legal_orders"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_legal_order_acts")),
    )
    op.create_table(
        "legal_order_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("acted_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["preserved_evidence.id"],
            name=op.f("fk_legal_order_items_evidence_id_preserved_evidence"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["legal_orders.id"],
            name=op.f("fk_legal_order_items_order_id_legal_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_order_items")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_legal_order_items_order_id")),
    )
    op.create_index(
        op.f("ix_legal_order_items_order_id"), "legal_order_items", ["order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_legal_order_items_order_id"), table_name="legal_order_items")
    op.drop_table("legal_order_items")
    op.drop_table("legal_order_acts")
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.drop_column("competences")
    op.drop_index("ix_preserved_evidence_purge", table_name="preserved_evidence")
    op.drop_index(op.f("ix_preserved_evidence_item_id"), table_name="preserved_evidence")
    op.drop_table("preserved_evidence")

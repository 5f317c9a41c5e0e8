"""issue 22b: threats to life notified under DSA Art. 18 (escalations), and reports of
child sexual abuse material to a hotline.

Revision ID: 0019_issue22b
Revises: 0018_issue22a
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0019_issue22b"
down_revision: str | None = "0018_issue22a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "threat_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=True),
        sa.Column("member_state_basis", sa.String(length=24), nullable=False),
        sa.Column("recipient", sa.String(length=80), nullable=False),
        sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("escalated_by", sa.Integer(), nullable=False),
        sa.Column("escalated_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("sent_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["moderation_items.id"],
            name=op.f("fk_threat_escalations_item_id_moderation_items"),
        ),
        sa.ForeignKeyConstraint(
            ["escalated_by"],
            ["principals.id"],
            name=op.f("fk_threat_escalations_escalated_by_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["principals.id"],
            name=op.f("fk_threat_escalations_decided_by_principals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threat_escalations")),
        sa.UniqueConstraint("reference", name=op.f("uq_threat_escalations_reference")),
    )
    op.create_index(
        op.f("ix_threat_escalations_item_id"), "threat_escalations", ["item_id"], unique=False
    )
    op.create_index(
        "ix_threat_escalations_state",
        "threat_escalations",
        ["state", "escalated_at"],
        unique=False,
    )
    op.create_table(
        "hotline_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("account_ref", sa.String(length=128), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("receipt", sa.String(length=128), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["moderation_items.id"],
            name=op.f("fk_hotline_reports_item_id_moderation_items"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_hotline_reports_decision_id_moderation_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_reports")),
        sa.UniqueConstraint("item_id", name=op.f("uq_hotline_reports_item_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_hotline_reports_reference")),
    )
    op.create_index("ix_hotline_reports_state", "hotline_reports", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_hotline_reports_state", table_name="hotline_reports")
    op.drop_table("hotline_reports")
    op.drop_index("ix_threat_escalations_state", table_name="threat_escalations")
    op.drop_index(op.f("ix_threat_escalations_item_id"), table_name="threat_escalations")
    op.drop_table("threat_escalations")

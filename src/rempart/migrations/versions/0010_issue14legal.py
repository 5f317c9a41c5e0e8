"""lawful disclosure against insiders: countersigned validation, orders on hold,
emergency confirmation, call-backs

Revision ID: 0010_issue14legal
Revises: 0009
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0010_issue14legal"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORDER_COLUMNS: list[tuple[str, Any]] = [
    ("emergency_ground", sa.String(length=48)),
    ("validation_kid", sa.String(length=128)),
    ("second_review_due_at", rempart.core.db.UTCDateTime(timezone=True)),
    ("second_reviewed_at", rempart.core.db.UTCDateTime(timezone=True)),
    ("confirmation", sa.String(length=16)),
    ("confirmation_flagged_at", rempart.core.db.UTCDateTime(timezone=True)),
    ("on_hold_reason", sa.String(length=32)),
    ("on_hold_since", rempart.core.db.UTCDateTime(timezone=True)),
]


def upgrade() -> None:
    op.create_table(
        "legal_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.Integer(), nullable=False),
        sa.Column("contact", sa.String(length=256), nullable=False),
        sa.Column("called_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_reached", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["caller_id"], ["principals.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["legal_orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_callbacks_order_id"), ["order_id"], unique=False)
    with op.batch_alter_table("legal_orders", schema=None) as batch_op:
        for name, type_ in _ORDER_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("legal_order_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=48), nullable=True))
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "contact_changed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.drop_column("contact_changed_at")
    with op.batch_alter_table("legal_order_checks", schema=None) as batch_op:
        batch_op.drop_column("code")
    with op.batch_alter_table("legal_orders", schema=None) as batch_op:
        for name, _ in reversed(_ORDER_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("legal_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_callbacks_order_id"))
    op.drop_table("legal_callbacks")

"""separation of duties: enrolments, two-admin grant proposals, console login status

Revision ID: 0011_issue14auth
Revises: 0010_issue14legal
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0011_issue14auth"
down_revision: str | None = "0010_issue14legal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("auth_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_enrolments_principal_id"), ["principal_id"], unique=False
        )
    op.create_table(
        "auth_grant_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["decided_by"], ["principals.id"]),
        sa.ForeignKeyConstraint(["proposed_by"], ["principals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auth_grant_proposals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_grant_proposals_status"), ["status"], unique=False
        )
    with op.batch_alter_table("web_logins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )
    # Tokens issued before expiry existed get the staff lifetime from today: none lives for
    # ever, and none dies during the upgrade.
    tokens = sa.table(
        "api_tokens", sa.column("expires_at", rempart.core.db.UTCDateTime(timezone=True))
    )
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + timedelta(days=90))
    )


def downgrade() -> None:
    with op.batch_alter_table("web_logins", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("auth_grant_proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_grant_proposals_status"))
    op.drop_table("auth_grant_proposals")
    with op.batch_alter_table("auth_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_enrolments_principal_id"))
    op.drop_table("auth_enrolments")

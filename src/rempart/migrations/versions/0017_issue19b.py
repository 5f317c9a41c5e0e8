"""console: moderators' internal notes and escalations to legal, each reviewer's wellbeing
settings (blur level, greyscale, daily reveal cap), and an index on items' owners for the
account timeline.

Revision ID: 0017_issue19b
Revises: 0014_transparency_dataset
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0017_issue19b"
down_revision: str | None = "0014_transparency_dataset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The account timeline reads every item one account owns.
    op.create_index(
        op.f("ix_moderation_items_owner_user_id"),
        "moderation_items",
        ["owner_user_id"],
        unique=False,
    )
    op.create_table(
        "moderation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("closed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closing_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["moderation_items.id"],
            name=op.f("fk_moderation_notes_item_id_moderation_items"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["principals.id"], name=op.f("fk_moderation_notes_author_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["principals.id"], name=op.f("fk_moderation_notes_closed_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_notes")),
    )
    op.create_index(
        op.f("ix_moderation_notes_item_id"), "moderation_notes", ["item_id"], unique=False
    )
    op.create_index(
        "ix_moderation_notes_open", "moderation_notes", ["kind", "closed_at"], unique=False
    )
    op.create_table(
        "reviewer_settings",
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("blur_level", sa.Integer(), nullable=False),
        sa.Column("greyscale", sa.Boolean(), nullable=False),
        sa.Column("daily_reveal_cap", sa.Integer(), nullable=False),
        sa.Column("updated_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_reviewer_settings_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_reviewer_settings")),
    )


def downgrade() -> None:
    op.drop_table("reviewer_settings")
    op.drop_index("ix_moderation_notes_open", table_name="moderation_notes")
    op.drop_index(op.f("ix_moderation_notes_item_id"), table_name="moderation_notes")
    op.drop_table("moderation_notes")
    op.drop_index(op.f("ix_moderation_items_owner_user_id"), table_name="moderation_items")

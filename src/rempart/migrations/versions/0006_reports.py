"""reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 04:33:27.839427
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rempart.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_standings",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("manifestly_illegal", sa.Integer(), nullable=False),
        sa.Column("warned_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_until", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_standings")),
    )
    op.create_table(
        "bot_conversations",
        sa.Column("key", sa.LargeBinary(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("target_kind", sa.String(length=8), nullable=True),
        sa.Column("target_ref", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("updated_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_conversations")),
    )
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.LargeBinary(length=16), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window", name=op.f("pk_rate_windows")),
    )
    op.create_table(
        "reporters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("identity_index", sa.LargeBinary(length=16), nullable=False),
        sa.Column("contact_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("platform_user_id", sa.String(length=128), nullable=True),
        sa.Column("principal_id", sa.Integer(), nullable=True),
        sa.Column("upheld", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("unfounded", sa.Integer(), nullable=False),
        sa.Column("warned_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_until", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_reporters_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporters")),
        sa.UniqueConstraint("identity_index", name=op.f("uq_reporters_identity_index")),
    )
    op.create_table(
        "report_notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["reporters.id"], name=op.f("fk_report_notices_reporter_id_reporters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_notices")),
    )
    with op.batch_alter_table("report_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_notices_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "appeal_secrets",
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_appeal_secrets_decision_id_moderation_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["reporters.id"], name=op.f("fk_appeal_secrets_reporter_id_reporters")
        ),
        sa.PrimaryKeyConstraint("secret_hash", name=op.f("pk_appeal_secrets")),
    )
    with op.batch_alter_table("appeal_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appeal_secrets_decision_id"), ["decision_id"], unique=False
        )

    op.create_table(
        "appeals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        sa.Column("first_moderator_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("review_decision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["principals.id"], name=op.f("fk_appeals_decided_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_appeals_decision_id_moderation_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["first_moderator_id"],
            ["principals.id"],
            name=op.f("fk_appeals_first_moderator_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["moderation_items.id"], name=op.f("fk_appeals_item_id_moderation_items")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["reporters.id"], name=op.f("fk_appeals_reporter_id_reporters")
        ),
        sa.ForeignKeyConstraint(
            ["review_decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_appeals_review_decision_id_moderation_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("tracking_id", name=op.f("uq_appeals_tracking_id")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_decision_id"), ["decision_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_item_id"), ["item_id"], unique=False)

    op.create_table(
        "report_cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_kind", sa.String(length=8), nullable=False),
        sa.Column("target_ref", sa.String(length=128), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("reporters", sa.Integer(), nullable=False),
        sa.Column("credible_reporters", sa.Float(), nullable=False),
        sa.Column("trusted_flagger", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("raid_suspected", sa.Boolean(), nullable=False),
        sa.Column("raid_score", sa.Float(), nullable=False),
        sa.Column("raid_signals", sa.JSON(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("first_report_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_report_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assessed_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_report_cases_decision_id_moderation_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["moderation_items.id"],
            name=op.f("fk_report_cases_item_id_moderation_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_cases")),
    )
    with op.batch_alter_table("report_cases", schema=None) as batch_op:
        batch_op.create_index("ix_report_cases_item", ["item_id", "state"], unique=False)
        batch_op.create_index(
            "ix_report_cases_target", ["target_kind", "target_ref", "state"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=8), nullable=False),
        sa.Column("target_ref", sa.String(length=128), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("reporter_kind", sa.String(length=16), nullable=True),
        sa.Column("reporter_index", sa.LargeBinary(length=16), nullable=True),
        sa.Column("reporter_contact", sa.LargeBinary(), nullable=True),
        sa.Column("platform_user_id", sa.String(length=128), nullable=True),
        sa.Column("sender_principal_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("good_faith", sa.Boolean(), nullable=False),
        sa.Column("text_simhash", sa.BigInteger(), nullable=False),
        sa.Column("network_index", sa.LargeBinary(length=16), nullable=True),
        sa.Column("account_created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("account_connections", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", rempart.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", rempart.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["report_cases.id"], name=op.f("fk_reports_case_id_report_cases")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["reporters.id"], name=op.f("fk_reports_reporter_id_reporters")
        ),
        sa.ForeignKeyConstraint(
            ["sender_principal_id"],
            ["principals.id"],
            name=op.f("fk_reports_sender_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("tracking_id", name=op.f("uq_reports_tracking_id")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_reporter_id"), ["reporter_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_reports_case_id"))

    op.drop_table("reports")
    with op.batch_alter_table("report_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_report_cases_target")
        batch_op.drop_index("ix_report_cases_item")

    op.drop_table("report_cases")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeals_item_id"))
        batch_op.drop_index(batch_op.f("ix_appeals_decision_id"))

    op.drop_table("appeals")
    with op.batch_alter_table("appeal_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_secrets_decision_id"))

    op.drop_table("appeal_secrets")
    with op.batch_alter_table("report_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_notices_sent_at"))

    op.drop_table("report_notices")
    op.drop_table("reporters")
    op.drop_table("rate_windows")
    op.drop_table("bot_conversations")
    op.drop_table("account_standings")

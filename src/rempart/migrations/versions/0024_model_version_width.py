"""An item's model version is kept whole (issue 20).

``moderation_items.model_version`` names the policy, the rule set and every classifier
stage. With the 12-layer stage the shipped name is 66 characters, and the column's 64 cut
it: a rescan could then never recognise the running classifier in a stored answer, and
two classifiers differing only past the cut would have looked alike.

Revision ID: 0024_model_version_width
Revises: 0023_i15_proofs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_model_version_width"
down_revision: str | None = "0023_i15_proofs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.alter_column(
            "model_version",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.alter_column(
            "model_version",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=False,
        )

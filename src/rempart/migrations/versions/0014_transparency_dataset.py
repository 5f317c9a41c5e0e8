"""transparency dataset: each published report keeps the public dataset it was computed
from, with its inclusion proofs, so that anyone can verify it without the database.

Revision ID: 0014_transparency_dataset
Revises: 0013_issue15load
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_transparency_dataset"
down_revision: str | None = "0013_issue15load"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        # Reports published before this revision have none: they verify against the log.
        batch_op.add_column(sa.Column("dataset", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.drop_column("dataset")

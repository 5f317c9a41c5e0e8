"""Orders to act: their items looked up by kind and ref.

Every scan asks which of its posts and entities an order in effect took down
(``legal/ordered.py``); without an index that reads the whole table once per scan batch.

Revision ID: 0021_order_items_by_ref
Revises: 0020_issue16ports
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021_order_items_by_ref"
down_revision: str | None = "0020_issue16ports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_legal_order_items_kind_ref", "legal_order_items", ["kind", "ref"])


def downgrade() -> None:
    op.drop_index("ix_legal_order_items_kind_ref", table_name="legal_order_items")

"""Subtree roots keyed by tile: a proof's roots share pages (issue 15, cold pages).

``audit_nodes`` gains ``tile`` (``merkle.node_tile``), first in its primary key. On
SQLite the table is rebuilt WITHOUT ROWID, clustered on that key: a proof at 10 M entries
read ~23 roots on as many scattered pages, each through an index page and a table page;
it now reads four tiles of a page or two each. PostgreSQL gets the column and the key
(its index is what the lookups walk; the heap stays in insertion order).

Revision ID: 0023_i15_proofs
Revises: 0022_i21_dsa
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_i15_proofs"
down_revision: str | None = "0022_i21_dsa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ``merkle.node_tile`` at the time of this migration, in SQL both databases read alike
# (integer division, bit shift): tiles of 6 levels, the band above bit 56.
_BAND = "(level / 6)"
_TILE = f"(({_BAND} * 72057594037927936) + (idx >> (({_BAND} + 1) * 6 - level)))"


def _sqlite_table(name: str, key: list[str], *, clustered: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
    ]
    if clustered:
        columns.insert(0, sa.Column("tile", sa.BigInteger(), autoincrement=False, nullable=False))
    op.create_table(
        name,
        *columns,
        sa.PrimaryKeyConstraint(*key, name="pk_audit_nodes"),
        sqlite_with_rowid=not clustered,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a table's key or drop its rowid: a copy in key order.
        _sqlite_table("audit_nodes_by_tile", ["tile", "level", "idx"], clustered=True)
        op.execute(
            "INSERT INTO audit_nodes_by_tile (tile, level, idx, hash) "  # noqa: S608
            f"SELECT {_TILE}, level, idx, hash FROM audit_nodes ORDER BY 1, 2, 3"
        )
        op.drop_table("audit_nodes")
        op.rename_table("audit_nodes_by_tile", "audit_nodes")
        return
    op.add_column(
        "audit_nodes", sa.Column("tile", sa.BigInteger(), autoincrement=False, nullable=True)
    )
    op.execute(f"UPDATE audit_nodes SET tile = {_TILE}")  # noqa: S608
    op.alter_column("audit_nodes", "tile", nullable=False)
    op.drop_constraint("pk_audit_nodes", "audit_nodes", type_="primary")
    op.create_primary_key("pk_audit_nodes", "audit_nodes", ["tile", "level", "idx"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_table("audit_nodes_by_level", ["level", "idx"], clustered=False)
        op.execute(
            "INSERT INTO audit_nodes_by_level (level, idx, hash) "
            "SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx"
        )
        op.drop_table("audit_nodes")
        op.rename_table("audit_nodes_by_level", "audit_nodes")
        return
    op.drop_constraint("pk_audit_nodes", "audit_nodes", type_="primary")
    op.create_primary_key("pk_audit_nodes", "audit_nodes", ["level", "idx"])
    op.drop_column("audit_nodes", "tile")

"""Subtree roots stored by tile: a proof reads one row per band of levels (issue 15).

``audit_nodes`` (one row per root, keyed by level and index) becomes ``audit_tiles``: one
row per perfect subtree of 6 levels under one node, holding the roots of its levels in
one blob of up to 126 hashes (one page; see ``merkle.node_tile``). A proof at 10 M
entries read some 23 rows in as many places, each through an index page and a table page
when nothing was cached; it now reads four tiles.

Revision ID: 0023_i15_proofs
Revises: 0022_i21_dsa
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_i15_proofs"
down_revision: str | None = "0022_i21_dsa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ``merkle``'s tiles at the time of this migration, written out so that a later change
# there cannot change what this migration does.
_HEIGHT = 6
_SLOTS = (1 << (_HEIGHT + 1)) - 2
_BAND_SHIFT = 56
_HASH = 32
_EMPTY = bytes(_HASH)
# Roots of levels under this one are converted a window of leaves at a time (their tiles
# fit in it): memory stays bounded at any size. Those above are few (one per 2^17 leaves).
_WINDOW_LEVEL = 3 * _HEIGHT
_BATCH = 2000


def _tile_of(level: int, index: int) -> tuple[int, int]:
    band = level // _HEIGHT
    below_top = _HEIGHT - level % _HEIGHT
    tile = (band << _BAND_SHIFT) + (index >> below_top)
    return tile, (1 << below_top) - 2 + (index & ((1 << below_top) - 1))


def _tile_size(tile: int) -> int:
    return (_SLOTS if tile >> _BAND_SHIFT else _SLOTS // 2 - 1) * _HASH


def _nodes_of(tile: int, blob: bytes) -> Iterator[dict[str, object]]:
    band, position = tile >> _BAND_SHIFT, tile & ((1 << _BAND_SHIFT) - 1)
    for slot in range(len(blob) // _HASH):
        below_top = (slot + 2).bit_length() - 1
        value = blob[slot * _HASH : (slot + 1) * _HASH]
        if value != _EMPTY:
            yield {
                "level": band * _HEIGHT + _HEIGHT - below_top,
                "idx": (position << below_top) + slot + 2 - (1 << below_top),
                "hash": value,
            }


_tiles = sa.table("audit_tiles", sa.column("tile", sa.BigInteger()), sa.column("hashes"))
_nodes = sa.table(
    "audit_nodes",
    sa.column("level", sa.SmallInteger()),
    sa.column("idx", sa.BigInteger()),
    sa.column("hash", sa.LargeBinary()),
)


def upgrade() -> None:
    op.create_table(
        "audit_tiles",
        sa.Column(
            "tile",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tile", name=op.f("pk_audit_tiles")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # A tile's 4 KB stay in its row, not moved out of line to the TOAST table (a second
        # lookup per tile): hashes do not compress.
        op.execute("ALTER TABLE audit_tiles ALTER COLUMN hashes SET STORAGE PLAIN")
    covered = bind.execute(
        sa.text("SELECT MAX((idx + 1) * (CAST(1 AS BIGINT) << level)) FROM audit_nodes")
    )
    leaves = covered.scalar() or 0
    window = 1 << _WINDOW_LEVEL
    for start in range(0, leaves, window):
        ranges = " OR ".join(
            f"(level = {level} AND idx >= {start >> level} AND idx < {(start + window) >> level})"
            for level in range(1, _WINDOW_LEVEL)
        )
        _convert(bind, f"SELECT level, idx, hash FROM audit_nodes WHERE {ranges}")  # noqa: S608
    _convert(
        bind, "SELECT level, idx, hash FROM audit_nodes WHERE level >= :top", top=_WINDOW_LEVEL
    )
    op.drop_table("audit_nodes")


def _convert(bind: sa.Connection, query: str, **params: int) -> None:
    blobs: dict[int, bytearray] = {}
    for level, idx, value in bind.execute(sa.text(query), params):
        tile, slot = _tile_of(level, idx)
        blob = blobs.get(tile)
        if blob is None:
            blob = blobs[tile] = bytearray(_tile_size(tile))
        blob[slot * _HASH : (slot + 1) * _HASH] = bytes(value)
    rows = [{"tile": tile, "hashes": bytes(blob)} for tile, blob in sorted(blobs.items())]
    for offset in range(0, len(rows), _BATCH):
        bind.execute(_tiles.insert(), rows[offset : offset + _BATCH])


def downgrade() -> None:
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
    )
    bind = op.get_bind()
    batch: list[dict[str, object]] = []
    for tile, blob in bind.execute(sa.text("SELECT tile, hashes FROM audit_tiles ORDER BY tile")):
        batch.extend(_nodes_of(tile, bytes(blob)))
        if len(batch) >= _BATCH:
            bind.execute(_nodes.insert(), batch)
            batch = []
    if batch:
        bind.execute(_nodes.insert(), batch)
    op.drop_table("audit_tiles")

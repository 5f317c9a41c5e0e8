"""Stored subtree roots of the audit log's Merkle tree, as tiles: one row holds the roots
of 6 levels under a node (``merkle.node_tile``), so a proof at 10 M entries reads four rows,
each one page, and a signer patches the tiles its new leaves complete."""

from __future__ import annotations

import json

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from rempart.audit import merkle
from rempart.audit.exceptions import AuditLogBroken
from rempart.audit.merkle import Node
from rempart.audit.models import AuditHead, AuditTile
from rempart.core.db import dialect_insert, execute_many

# Tiles looked up per statement when a signer patches them (a chunk touches ~1,000).
_TILES_READ_AT_ONCE = 500
# PostgreSQL's transaction lock for writers of tiles: any number that no other lock uses.
_TILE_WRITERS_LOCK = 0x61756469745F7469  # "audit_ti"


def store_roots(session: Session, nodes: list[tuple[int, int, bytes]]) -> None:
    """Subtree roots are a function of the leaves just read: a root already stored (by a
    concurrent signer, or before heads were re-signed) is replaced by the one computed.

    Each tile they fall in is read, patched and written back. Writers of tiles take turns
    (SQLite's write lock; a transaction lock on PostgreSQL), so that a signer never writes
    back a tile read before another signer added its roots."""
    if not nodes:
        return
    patches: dict[int, list[tuple[int, bytes]]] = {}
    for level, idx, value in nodes:
        tile, slot = merkle.node_tile(level, idx)
        patches.setdefault(tile, []).append((slot, value))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TILE_WRITERS_LOCK})
    tiles = sorted(patches)
    stored: dict[int, bytes] = {}
    for offset in range(0, len(tiles), _TILES_READ_AT_ONCE):
        chunk = tiles[offset : offset + _TILES_READ_AT_ONCE]
        found = session.execute(
            select(AuditTile.tile, AuditTile.hashes).where(AuditTile.tile.in_(chunk))
        )
        stored.update((tile, bytes(blob)) for tile, blob in found)
    rows = []
    for tile in tiles:
        blob = bytearray(merkle.tile_size(tile))
        before = stored.get(tile, b"")[: len(blob)]
        blob[: len(before)] = before
        for slot, value in patches[tile]:
            blob[slot * merkle.HASH_SIZE : (slot + 1) * merkle.HASH_SIZE] = value
        rows.append({"tile": tile, "hashes": bytes(blob)})
    statement = dialect_insert(session, AuditTile)
    statement = statement.on_conflict_do_update(
        index_elements=["tile"], set_={"hashes": statement.excluded.hashes}
    )
    execute_many(session, AuditTile.__table__, rows, statement)


def frontier_roots(head: AuditHead) -> dict[Node, bytes]:
    """The roots on the right edge of the head's tree, from the head row a proof reads
    anyway: every inclusion proof under it needs some, each in a tile of its own. The
    frontier is not signed; a proof built from it is checked against the signed root."""
    try:
        hashes = [bytes.fromhex(value) for value in json.loads(head.frontier)]
    except (ValueError, TypeError):
        return {}  # then from the tiles, as before heads were read for them
    nodes = merkle.frontier_nodes(head.tree_size)
    return dict(zip(nodes, hashes, strict=True)) if len(hashes) == len(nodes) else {}


def subtree_roots(
    session: Session, wanted: set[Node], tree_size: int, known: dict[Node, bytes]
) -> dict[Node, bytes]:
    """The stored roots of the subtrees a proof needs: leaves from the entries, larger
    subtrees from ``audit_tiles`` (one row per band of levels: see ``merkle.node_tile``),
    one statement per table, each row looked up by primary key.

    The SQL is written out with the (computed, integer) keys inline: building the same
    query as an expression, a new shape for every proof, cost most of a proof's time."""
    found = {node: known[node] for node in wanted if node in known}
    wanted = wanted - found.keys()
    leaves = sorted(int(idx) for level, idx in wanted if level == 0)
    by_tile: dict[int, list[tuple[Node, int]]] = {}
    for level, idx in wanted:
        if level > 0:
            tile, slot = merkle.node_tile(int(level), int(idx))
            by_tile.setdefault(tile, []).append(((level, idx), slot))
    connection = session.connection()
    if leaves:
        listed = ",".join(map(str, leaves))
        rows = connection.exec_driver_sql(
            f"SELECT seq, leaf_hash FROM audit_entries WHERE seq IN ({listed})"  # noqa: S608
        )
        found.update(((0, seq), bytes(leaf)) for seq, leaf in rows)
    if by_tile:
        listed = ",".join(map(str, sorted(by_tile)))
        rows = connection.exec_driver_sql(
            f"SELECT tile, hashes FROM audit_tiles WHERE tile IN ({listed})"  # noqa: S608
        )
        for tile, blob in rows:
            for node, slot in by_tile[tile]:
                value = bytes(blob[slot * merkle.HASH_SIZE : (slot + 1) * merkle.HASH_SIZE])
                if len(value) == merkle.HASH_SIZE and value != merkle.MISSING:
                    found[node] = value
    if not wanted <= found.keys():
        raise AuditLogBroken(
            "Entries or subtree roots under this tree head are missing; "
            "run `rempart audit verify`.",
            tree_size=tree_size,
        )
    return found

"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rempart.audit import merkle
from rempart.audit import service as audit
from rempart.audit.codec import canonical_json
from rempart.audit.heads import signed_bytes
from rempart.core import crypto
from rempart.core.db import Base, get_engine, transaction
from rempart.core.migrate import alembic_config, managed_by_models, upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": managed_by_models}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_0011_backfills_subtree_roots_and_targets_of_an_existing_log(
    database_url: str, tmp_path: Path
) -> None:
    """A log written before stored subtree roots existed: after the upgrade its proofs and
    receipts come from the backfilled roots and targets, and agree with the RFC."""
    command.downgrade(alembic_config(database_url), "0010_issue14legal")
    keys = crypto.KeyRing.generate()
    bodies = [
        canonical_json(
            {
                "v": 1,
                "seq": seq,
                "ts": "2026-12-01T00:00:00.000000Z",
                "actor": "system:test",
                "action": "legal.order.step" if seq % 3 == 0 else "test.change",
                "target": f"order:O{seq % 4}",
                "country": None,
                "details": {"n": seq},
            }
        )
        for seq in range(21)
    ]
    leaves = [merkle.leaf_hash(body) for body in bodies]
    engine = get_engine(database_url)
    with engine.begin() as connection:
        for seq, body in enumerate(bodies):
            connection.execute(
                sa.text(
                    "INSERT INTO audit_entries (seq, action, recorded_at, body, leaf_hash) "
                    "VALUES (:seq, :action, :at, :body, :leaf)"
                ),
                {
                    "seq": seq,
                    "action": json.loads(body)["action"],
                    "at": datetime(2026, 12, 1, tzinfo=UTC),
                    "body": body.decode(),
                    "leaf": leaves[seq],
                },
            )
        connection.execute(sa.text("UPDATE audit_tail SET size = 21"))
        for size in (5, 17):  # heads signed before the upgrade; entries 17..20 unsigned
            frontier: list[bytes] = []
            for index, leaf in enumerate(leaves[:size]):
                frontier = merkle.frontier_append(frontier, index, leaf)
            root = merkle.frontier_root(frontier)
            message = signed_bytes(
                log_id=keys.log_id, tree_size=size, timestamp=1, root_hash=root.hex()
            )
            connection.execute(
                sa.text(
                    "INSERT INTO audit_heads (tree_size, root_hash, timestamp_ms, signature, "
                    "frontier) VALUES (:size, :root, 1, :sig, :frontier)"
                ),
                {
                    "size": size,
                    "root": root,
                    "sig": keys.sign(message),
                    "frontier": json.dumps([h.hex() for h in frontier]),
                },
            )
    engine.dispose()
    upgrade(database_url)

    with transaction(get_engine(database_url), readonly=True) as session:
        for entry in range(17):
            proof = audit.prove_inclusion(session, keys=keys, entry=entry)
            assert proof.audit_path == [h.hex() for h in merkle.inclusion_proof(entry, leaves[:17])]
            assert audit.check_inclusion(proof)
        assert audit.check_consistency(
            audit.prove_consistency(session, keys=keys, first=5, second=17)
        )
        receipt = audit.prove_target(session, keys=keys, target="order:O0", action_prefix="legal.")
        assert [p.entry for p in receipt] == [0, 12]  # seq % 4 == 0 and seq % 3 == 0, under 17
        # Nothing past the signed size was stored as a subtree root.
        tiles = session.execute(sa.text("SELECT tile, hashes FROM audit_tiles")).all()
        stored = [node for tile, blob in tiles for node in merkle.tile_nodes(tile, bytes(blob))]
        assert max((idx + 1) << level for level, idx, _ in stored) <= 17


def test_0023_keys_an_existing_logs_subtree_roots_by_tile(database_url: str) -> None:
    """A log signed under 0022 (one row per subtree root): after the upgrade every root is
    in the tile and slot ``merkle.node_tile`` gives it, proofs across two bands of tiles
    agree with the RFC, and the downgrade gives back the same rows."""
    command.downgrade(alembic_config(database_url), "0022_i21_dsa")
    keys = crypto.KeyRing.generate()
    size = 150  # roots up to level 7: the first two bands of tiles
    bodies = [
        canonical_json({"v": 1, "seq": seq, "action": "test.change", "details": {"n": seq}})
        for seq in range(size)
    ]
    leaves = [merkle.leaf_hash(body) for body in bodies]
    frontier: list[bytes] = []
    nodes: list[tuple[int, int, bytes]] = []
    roots = {}
    for index, leaf in enumerate(leaves):
        frontier = merkle.frontier_append_nodes(frontier, index, leaf, nodes)
        roots[index + 1] = (merkle.frontier_root(frontier), list(frontier))
    engine = get_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_entries (seq, action, recorded_at, body, leaf_hash) "
                "VALUES (:seq, 'test.change', :at, :body, :leaf)"
            ),
            [
                {"seq": seq, "at": datetime(2026, 12, 1, tzinfo=UTC), "body": body, "leaf": leaf}
                for seq, (body, leaf) in enumerate(
                    zip([b.decode() for b in bodies], leaves, strict=True)
                )
            ],
        )
        connection.execute(sa.text(f"UPDATE audit_tail SET size = {size}"))
        connection.execute(
            sa.text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"),
            [{"level": level, "idx": idx, "hash": value} for level, idx, value in nodes],
        )
        for signed in (100, size):
            root, signed_frontier = roots[signed]
            message = signed_bytes(
                log_id=keys.log_id, tree_size=signed, timestamp=1, root_hash=root.hex()
            )
            connection.execute(
                sa.text(
                    "INSERT INTO audit_heads (tree_size, root_hash, timestamp_ms, signature, "
                    "frontier) VALUES (:size, :root, 1, :sig, :frontier)"
                ),
                {
                    "size": signed,
                    "root": root,
                    "sig": keys.sign(message),
                    "frontier": json.dumps([h.hex() for h in signed_frontier]),
                },
            )
    engine.dispose()
    upgrade(database_url)

    with transaction(get_engine(database_url), readonly=True) as session:
        tiles = session.execute(sa.text("SELECT tile, hashes FROM audit_tiles")).all()
        stored = [node for tile, blob in tiles for node in merkle.tile_nodes(tile, bytes(blob))]
        assert sorted(stored) == sorted(nodes)
        assert {tile >> 56 for tile, _ in tiles} == {0, 1}
        assert all(len(blob) == merkle.tile_size(tile) for tile, blob in tiles)
        for entry in range(size):
            proof = audit.prove_inclusion(session, keys=keys, entry=entry)
            assert proof.audit_path == [h.hex() for h in merkle.inclusion_proof(entry, leaves)]
            assert audit.check_inclusion(proof)
        consistency = audit.prove_consistency(session, keys=keys, first=100, second=size)
        assert consistency.proof == [h.hex() for h in merkle.consistency_proof(100, leaves)]
    get_engine(database_url).dispose()

    command.downgrade(alembic_config(database_url), "0022_i21_dsa")
    with get_engine(database_url).connect() as connection:
        stored = connection.execute(sa.text("SELECT level, idx, hash FROM audit_nodes")).all()
    assert sorted((lv, i, bytes(h)) for lv, i, h in stored) == sorted(nodes)
    get_engine(database_url).dispose()
    upgrade(database_url)

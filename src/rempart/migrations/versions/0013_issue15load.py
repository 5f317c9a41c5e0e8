"""load: stored Merkle subtree roots, an indexed audit target, cached public figures

Revision ID: 0013_issue15load
Revises: 0012_issue17reports
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_issue15load"
down_revision: str | None = "0012_issue17reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.Text(), nullable=True))
    _backfill()
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_target"), ["target"], unique=False)


def _backfill() -> None:
    """Targets from the entries' bodies; subtree roots under the latest signed head.

    Entries are read in order once; a gap stops the subtree roots there (proofs past it
    answer ``audit_log_broken``, as ``audit verify`` does)."""
    bind = op.get_bind()
    signed = bind.execute(sa.text("SELECT MAX(tree_size) FROM audit_heads")).scalar() or 0
    entries = sa.table(
        "audit_entries", sa.column("seq", sa.BigInteger()), sa.column("target", sa.Text())
    )
    nodes = sa.table(
        "audit_nodes",
        sa.column("level", sa.SmallInteger()),
        sa.column("idx", sa.BigInteger()),
        sa.column("hash", sa.LargeBinary()),
    )
    frontier: list[bytes] = []
    expected = 0
    after = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, body, leaf_hash FROM audit_entries WHERE seq > :after "
                "ORDER BY seq LIMIT :limit"
            ),
            {"after": after, "limit": _BATCH},
        ).all()
        if not rows:
            return
        targets: list[dict[str, object]] = []
        new_nodes: list[dict[str, object]] = []
        for seq, body, leaf in rows:
            after = seq
            try:
                target = json.loads(body).get("target")
            except (ValueError, AttributeError):
                target = None
            if isinstance(target, str):
                targets.append({"s": seq, "t": target})
            if seq != expected or seq >= signed:
                expected = -1  # no more subtree roots past a gap or the signed size
                continue
            frontier.append(bytes(leaf))
            carry, level = seq, 0
            while carry & 1:
                right = frontier.pop()
                left = frontier.pop()
                merged = hashlib.sha256(b"\x01" + left + right).digest()
                frontier.append(merged)
                carry >>= 1
                level += 1
                new_nodes.append({"level": level, "idx": seq >> level, "hash": merged})
            expected += 1
        if targets:
            bind.execute(
                entries.update()
                .where(entries.c.seq == sa.bindparam("s"))
                .values(target=sa.bindparam("t")),
                targets,
            )
        if new_nodes:
            bind.execute(nodes.insert(), new_nodes)


def downgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_target"))
        batch_op.drop_column("target")
    op.drop_table("audit_nodes")

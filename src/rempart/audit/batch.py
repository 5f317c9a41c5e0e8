"""Inclusion proofs for many entries under one head in a single pass over the leaves.

A transparency report publishes a proof for every entry it is computed from: tens of
thousands under a head of millions. One pass hashes each subtree once and hands its root
to every proof that needs it, where proving each entry apart would walk the tree again
for each.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import merkle
from rempart.audit.exceptions import AuditLogBroken, EntryOutsideTree
from rempart.audit.models import AuditEntry
from rempart.audit.service import head_at
from rempart.core.crypto import KeyRing


def _root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    size = hi - lo
    if size & (size - 1) == 0:
        return merkle.perfect_root(leaves[lo:hi])
    k = 1 << ((size - 1).bit_length() - 1)
    return merkle.node_hash(_root(leaves, lo, lo + k), _root(leaves, lo + k, hi))


def _prove(
    leaves: Sequence[bytes], lo: int, hi: int, wanted: list[int], out: dict[int, list[bytes]]
) -> bytes:
    """MTH(D[lo:hi]), appending to each wanted entry's path as RFC 9162 §2.1.3.1 orders
    it: the deepest sibling first."""
    if not wanted:
        return _root(leaves, lo, hi)
    if hi - lo == 1:
        return leaves[lo]
    k = 1 << ((hi - lo - 1).bit_length() - 1)
    left_wanted = [i for i in wanted if i < lo + k]
    right_wanted = [i for i in wanted if i >= lo + k]
    left = _prove(leaves, lo, lo + k, left_wanted, out)
    right = _prove(leaves, lo + k, hi, right_wanted, out)
    for index in left_wanted:
        out[index].append(right)
    for index in right_wanted:
        out[index].append(left)
    return merkle.node_hash(left, right)


def inclusion_paths(leaves: Sequence[bytes], entries: Sequence[int]) -> dict[int, list[bytes]]:
    """PATH(m, D[n]) for every m in ``entries``, equal to ``merkle.inclusion_proof``."""
    wanted = sorted(set(entries))
    if wanted and not (wanted[0] >= 0 and wanted[-1] < len(leaves)):
        raise ValueError("leaf index outside the tree")
    out: dict[int, list[bytes]] = {index: [] for index in wanted}
    if wanted:
        _prove(leaves, 0, len(leaves), wanted, out)
    return out


def prove_inclusions(
    session: Session, *, keys: KeyRing, entries: Sequence[int], tree_size: int
) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Leaf hashes and audit paths (hex) of ``entries`` under the signed head of
    ``tree_size``."""
    head = head_at(session, keys=keys, tree_size=tree_size)
    if any(not 0 <= e < head.tree_size for e in entries):
        raise EntryOutsideTree("An entry is not inside that tree head.", tree_size=tree_size)
    leaves = list(
        session.execute(
            select(AuditEntry.leaf_hash)
            .where(AuditEntry.seq < tree_size)
            .order_by(AuditEntry.seq)
            .execution_options(yield_per=50_000)
        ).scalars()
    )
    if len(leaves) != tree_size:
        raise AuditLogBroken(
            "Entries under this tree head are missing; run `rempart audit verify`.",
            tree_size=tree_size,
        )
    paths = inclusion_paths(leaves, entries)
    return (
        {e: leaves[e].hex() for e in paths},
        {e: [h.hex() for h in path] for e, path in paths.items()},
    )

"""Merkle tree hashing, proofs and proof verification following RFC 9162 §2.1.

Pure functions over leaf hashes, usable offline by anyone who holds the log's entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    frontier: list[bytes] = []
    for index, leaf in enumerate(leaves):
        frontier = frontier_append(frontier, index, leaf)
    return frontier_root(frontier)


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """Add a leaf to the roots of the perfect subtrees that make a tree of ``size`` leaves.

    The frontier holds one root per set bit of ``size``, largest first; appending works
    like a binary counter, merging equal-sized subtrees.
    """
    result = [*frontier, leaf]
    carry = size
    while carry & 1:
        right = result.pop()
        left = result.pop()
        result.append(node_hash(left, right))
        carry >>= 1
    return result


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree: ``len(leaves)`` is a power of two."""
    level = list(leaves)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TreeBuilder:
    """Roots over a stream of leaves, for logs of millions of entries: leaves are hashed
    into perfect subtrees of ``CHUNK`` leaves level by level, which costs far less Python
    per leaf than appending them one by one to a frontier."""

    CHUNK = 1 << 14

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._chunk_count = 0
        self._buffer: list[bytes] = []

    @property
    def size(self) -> int:
        return self._chunk_count * self.CHUNK + len(self._buffer)

    def append(self, leaf: bytes) -> None:
        self._buffer.append(leaf)
        if len(self._buffer) == self.CHUNK:
            chunk = perfect_root(self._buffer)
            self._chunks = frontier_append(self._chunks, self._chunk_count, chunk)
            self._chunk_count += 1
            self._buffer = []

    def extend(self, leaves: Sequence[bytes]) -> None:
        position = 0
        while position < len(leaves):
            room = self.CHUNK - len(self._buffer)
            if not self._buffer and len(leaves) - position >= self.CHUNK:
                chunk = perfect_root(leaves[position : position + self.CHUNK])
                self._chunks = frontier_append(self._chunks, self._chunk_count, chunk)
                self._chunk_count += 1
                position += self.CHUNK
                continue
            taken = leaves[position : position + room]
            position += len(taken)
            for leaf in taken:
                self.append(leaf)

    def root(self) -> bytes:
        tail: list[bytes] = []
        for index, leaf in enumerate(self._buffer):
            tail = frontier_append(tail, index, leaf)
        # Every chunk subtree is larger than any subtree of the tail: they come first.
        return frontier_root(self._chunks + tail)


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    accumulator = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        accumulator = node_hash(subtree, accumulator)
    return accumulator


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("leaf index outside the tree")
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root_hash(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root_hash(leaves[:k])]


def consistency_proof(first_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1."""
    if not 0 < first_size <= len(leaves):
        raise ValueError("first tree size must be between 1 and the second tree size")
    return _subproof(first_size, leaves, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_hash(leaves)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), root_hash(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), root_hash(leaves[:k])]


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= tree_size or index < 0:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first_size > second_size or first_size < 1:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# -- proofs from stored subtree roots ------------------------------------------------
#
# A log of millions of entries cannot re-read every leaf for each proof. Every proof
# element is the root of a range of leaves, and every range the RFC's recursion produces
# is a run of aligned perfect subtrees: storing the root of each perfect subtree once
# (``Node``: its level and its index at that level) lets a proof read O(log n) of them.

Node = tuple[
    int, int
]  # (level, index): the root over leaves [index << level, (index + 1) << level)


# How stored roots are laid out. A proof reads one root per level, from the leaf's sibling
# up to the top: stored one row per (level, index), those were some 23 rows in as many
# places at 10 M entries, each a disk read or two when the pages are not cached. As in
# tiled transparency logs, the roots are stored by tile: a tile is the perfect subtree of
# TILE_HEIGHT levels under one node, and its row holds all its roots in one blob of at
# most 126 hashes (4,032 bytes, one database page). A tile of band b holds levels
# b * TILE_HEIGHT to (b + 1) * TILE_HEIGHT - 1 (band 0 from level 1: leaves stay in the
# entries); the siblings a path needs at those levels are children of the path's own
# nodes, so a proof reads one tile per band, four at 10 M entries. Roots on the tree's
# right edge come from the head's frontier.
TILE_HEIGHT = 6
TILE_SLOTS = (1 << (TILE_HEIGHT + 1)) - 2  # nodes under a tile's top, its own children first
# A tile number holds the band above this bit, the tile's index within the band below
# (under 2 ** 56 for any log of under 2 ** 62 entries; band 10 still fits a BIGINT).
_TILE_BAND_SHIFT = 56
MISSING = bytes(HASH_SIZE)  # an empty slot: a root not stored (yet)


def node_tile(level: int, index: int) -> tuple[int, int]:
    """The tile of the root of subtree (level, index), level >= 1, and its slot there.

    Slots run from the top level of the tile down (two nodes, four, …), so that a band-0
    tile, which stores no leaves, is the first 62 slots. The migration that stored roots
    by tile computes the same numbers."""
    band = level // TILE_HEIGHT
    below_top = TILE_HEIGHT - level % TILE_HEIGHT  # 1 for the tile's top level
    tile = (band << _TILE_BAND_SHIFT) + (index >> below_top)
    return tile, (1 << below_top) - 2 + (index & ((1 << below_top) - 1))


def tile_size(tile: int) -> int:
    """Bytes of a tile's blob: band 0 holds no leaves."""
    return (TILE_SLOTS if tile >> _TILE_BAND_SHIFT else TILE_SLOTS // 2 - 1) * HASH_SIZE


def tile_nodes(tile: int, blob: bytes) -> list[tuple[int, int, bytes]]:
    """The (level, index, root) a tile's blob holds, empty slots left out."""
    band, position = tile >> _TILE_BAND_SHIFT, tile & ((1 << _TILE_BAND_SHIFT) - 1)
    found = []
    for slot in range(len(blob) // HASH_SIZE):
        below_top = (slot + 2).bit_length() - 1
        value = blob[slot * HASH_SIZE : (slot + 1) * HASH_SIZE]
        if value != MISSING:
            index = (position << below_top) + slot + 2 - (1 << below_top)
            found.append((band * TILE_HEIGHT + TILE_HEIGHT - below_top, index, value))
    return found


def frontier_nodes(size: int) -> list[Node]:
    """The perfect subtrees, largest first, whose roots make the frontier of ``size``
    leaves (what ``frontier_append`` keeps, and a signed head stores)."""
    return range_nodes(0, size)


def frontier_append_nodes(
    frontier: list[bytes], size: int, leaf: bytes, nodes: list[tuple[int, int, bytes]]
) -> list[bytes]:
    """``frontier_append``, also adding to ``nodes`` every perfect subtree root it completes."""
    result = [*frontier, leaf]
    carry = size
    level = 0
    while carry & 1:
        right = result.pop()
        left = result.pop()
        merged = node_hash(left, right)
        result.append(merged)
        carry >>= 1
        level += 1
        nodes.append((level, size >> level, merged))
    return result


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees, largest first, whose roots combine into MTH(D[start:end]).

    ``start`` is a multiple of a power of two no smaller than ``end - start``, as it is for
    every range of the RFC's recursion; ``frontier_root`` of their hashes is the range's root.
    """
    pieces: list[Node] = []
    position = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            pieces.append((level, position >> level))
            position += 1 << level
    return pieces


def inclusion_plan(index: int, size: int) -> list[list[Node]]:
    """PATH(index, D[size]) as the subtrees each of its hashes is made of."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    plan: list[list[Node]] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _largest_power_of_two_below(n)
        if m < k:
            plan.append(range_nodes(start + k, start + n))
            n = k
        else:
            plan.append(range_nodes(start, start + k))
            start, n, m = start + k, n - k, m - k
    plan.reverse()  # the recursion lists the deepest sibling first
    return plan


def consistency_plan(first_size: int, size: int) -> list[list[Node]]:
    """PROOF(first_size, D[size]) as the subtrees each of its hashes is made of."""
    if not 0 < first_size <= size:
        raise ValueError("first tree size must be between 1 and the second tree size")
    plan: list[list[Node]] = []
    start, n, m, complete = 0, size, first_size, True
    while m != n:
        k = _largest_power_of_two_below(n)
        if m <= k:
            plan.append(range_nodes(start + k, start + n))
            n = k
        else:
            plan.append(range_nodes(start, start + k))
            start, n, m, complete = start + k, n - k, m - k, False
    if not complete:
        plan.append(range_nodes(start, start + n))
    plan.reverse()
    return plan


def resolve_plan(plan: Sequence[Sequence[Node]], hashes: dict[Node, bytes]) -> list[bytes]:
    """The proof's hashes, from the stored roots of the subtrees the plan names."""
    return [frontier_root([hashes[node] for node in pieces]) for pieces in plan]

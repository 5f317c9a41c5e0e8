"""The Merkle tree of the audit log against RFC 9162 (§2.1), independently of the database.

The reference functions below are written straight from the RFC's recursive definitions,
over the raw entries, so that a bug shared by the production code and its tests is
unlikely: the production code works over leaf hashes, iteratively.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rempart.audit import merkle


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, over the raw entries."""
    if not entries:
        return _sha256(b"")
    if len(entries) == 1:
        return _sha256(b"\x00" + entries[0])
    k = _split(len(entries))
    return _sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(entries)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(entries)
    if m == n:
        return [] if complete else [ref_mth(entries)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], complete), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def flip(value: bytes, position: int) -> bytes:
    index = position % len(value)
    return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1 :]


# Entries are short byte strings; duplicates are allowed, as they are in a real log.
entries_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


# -- known answers: RFC 6962 test vectors (as used by certificate-transparency) ---------

CT_ENTRIES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CT_CONSISTENCY = [
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def test_hash_prefixes_and_empty_root() -> None:
    assert _sha256(b"") == merkle.EMPTY_ROOT
    assert merkle.root_hash([]) == bytes.fromhex(CT_ROOTS[0])
    assert merkle.leaf_hash(b"abc") == _sha256(b"\x00abc")
    left, right = _sha256(b"l"), _sha256(b"r")
    assert merkle.node_hash(left, right) == _sha256(b"\x01" + left + right)
    assert merkle.node_hash(left, right) != merkle.node_hash(right, left)
    # A leaf and a node over the same bytes never share a hash (second-preimage defence).
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


@pytest.mark.parametrize("size", range(9))
def test_known_roots(size: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES[:size]]
    assert merkle.root_hash(leaves).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES[:size]]
    assert [h.hex() for h in merkle.inclusion_proof(index, leaves)] == path
    root = bytes.fromhex(CT_ROOTS[size])
    proof = [bytes.fromhex(h) for h in path]
    assert merkle.verify_inclusion(leaves[index], index, size, proof, root)


@pytest.mark.parametrize(("first", "second", "path"), CT_CONSISTENCY)
def test_known_consistency_proofs(first: int, second: int, path: list[str]) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES[:second]]
    assert [h.hex() for h in merkle.consistency_proof(first, leaves)] == path
    old, new = bytes.fromhex(CT_ROOTS[first]), bytes.fromhex(CT_ROOTS[second])
    proof = [bytes.fromhex(h) for h in path]
    assert merkle.verify_consistency(first, second, old, new, proof)


# -- properties -------------------------------------------------------------------------


@given(entries_lists)
def test_root_matches_reference(entries: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert merkle.root_hash(leaves) == ref_mth(entries)


@given(entries_lists)
def test_frontier_gives_the_root_of_every_prefix(entries: list[bytes]) -> None:
    # The signer never re-reads old leaves: it extends the frontier stored with a head.
    frontier: list[bytes] = []
    for size, entry in enumerate(entries):
        frontier = merkle.frontier_append(frontier, size, merkle.leaf_hash(entry))
        assert merkle.frontier_root(frontier) == ref_mth(entries[: size + 1])
        assert len(frontier) == bin(size + 1).count("1")


@given(entries_lists, st.data())
def test_inclusion_proofs(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    root = ref_mth(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = merkle.inclusion_proof(index, leaves)
    assert proof == ref_path(index, entries)
    assert merkle.verify_inclusion(leaves[index], index, n, proof, root)

    other_leaf = merkle.leaf_hash(entries[index] + b"!")
    assert not merkle.verify_inclusion(other_leaf, index, n, proof, root)
    assert not merkle.verify_inclusion(leaves[index], index, n, proof, flip(root, index))
    assert not merkle.verify_inclusion(leaves[index], n, n, proof, root)
    assert not merkle.verify_inclusion(leaves[index], -1, n, proof, root)
    wrong_index = data.draw(st.integers(0, n - 1), label="wrong_index")
    if leaves[wrong_index] != leaves[index] and wrong_index != index:
        assert not merkle.verify_inclusion(leaves[index], wrong_index, n, proof, root)
    if proof:
        position = data.draw(st.integers(0, len(proof) * 32 - 1), label="flipped byte")
        tampered = list(proof)
        tampered[position // 32] = flip(tampered[position // 32], position)
        assert not merkle.verify_inclusion(leaves[index], index, n, tampered, root)
        assert not merkle.verify_inclusion(leaves[index], index, n, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[index], index, n, [*proof, root], root)


@given(st.integers(1, 40))
@hypothesis_settings(max_examples=40)
def test_every_leaf_of_every_size_proves(n: int) -> None:
    entries = [i.to_bytes(2, "big") for i in range(n)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    root = merkle.root_hash(leaves)
    for index in range(n):
        proof = merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, n, proof, root)
        # The same path does not prove the leaf at any other position.
        for other in range(n):
            if other != index:
                assert not merkle.verify_inclusion(leaves[index], other, n, proof, root)


@given(st.integers(1, 40))
@hypothesis_settings(max_examples=40)
def test_consistency_for_every_first_size(n: int) -> None:
    entries = [i.to_bytes(2, "big") for i in range(n)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    new_root = merkle.root_hash(leaves)
    for m in range(1, n + 1):
        old_root = ref_mth(entries[:m])
        proof = merkle.consistency_proof(m, leaves)
        assert proof == ref_subproof(m, entries, True)
        assert merkle.verify_consistency(m, n, old_root, new_root, proof)
        # A log whose first m entries were rewritten is not consistent with the old head.
        rewritten = ref_mth([b"x", *entries[1:m]])
        assert not merkle.verify_consistency(m, n, rewritten, new_root, proof)
        if m < n:
            assert not merkle.verify_consistency(m, n, old_root, new_root, [])


@given(entries_lists, st.data())
def test_tampered_consistency_proofs_fail(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    m = data.draw(st.integers(1, n), label="first size")
    old_root, new_root = ref_mth(entries[:m]), ref_mth(entries)
    proof = merkle.consistency_proof(m, leaves)
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)

    assert not merkle.verify_consistency(m, n, flip(old_root, m), new_root, proof)
    assert not merkle.verify_consistency(m, n, old_root, flip(new_root, n), proof)
    assert not merkle.verify_consistency(n, m, new_root, old_root, proof) or m == n
    assert not merkle.verify_consistency(0, n, old_root, new_root, proof)
    assert not merkle.verify_consistency(m, n, old_root, new_root, [*proof, new_root])
    if proof:
        position = data.draw(st.integers(0, len(proof) * 32 - 1), label="flipped byte")
        tampered = list(proof)
        tampered[position // 32] = flip(tampered[position // 32], position)
        assert not merkle.verify_consistency(m, n, old_root, new_root, tampered)
        assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])


@given(entries_lists, st.binary(max_size=12), st.data())
def test_appending_keeps_old_heads_consistent(
    entries: list[bytes], extra: bytes, data: st.DataObject
) -> None:
    # The transparency promise itself: a head stays consistent with every later head, and
    # a rewrite of any old entry is caught, however the log grows afterwards.
    grown = [*entries, extra]
    leaves = [merkle.leaf_hash(e) for e in grown]
    m = len(entries)
    proof = merkle.consistency_proof(m, leaves)
    assert merkle.verify_consistency(m, m + 1, ref_mth(entries), ref_mth(grown), proof)

    victim = data.draw(st.integers(0, m - 1), label="rewritten entry")
    rewritten = list(grown)
    rewritten[victim] = grown[victim] + b"\xff"
    assume(rewritten != grown)
    forged_leaves = [merkle.leaf_hash(e) for e in rewritten]
    forged_proof = merkle.consistency_proof(m, forged_leaves)
    assert not merkle.verify_consistency(
        m, m + 1, ref_mth(entries), ref_mth(rewritten), forged_proof
    )


def test_proof_generators_refuse_impossible_sizes() -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES]
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(8, leaves)
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(-1, leaves)
    with pytest.raises(ValueError, match="first tree size"):
        merkle.consistency_proof(0, leaves)
    with pytest.raises(ValueError, match="first tree size"):
        merkle.consistency_proof(9, leaves)
    root = merkle.root_hash(leaves)
    assert merkle.verify_consistency(8, 8, root, root, [])
    assert not merkle.verify_consistency(8, 8, root, root, [root])
    assert not merkle.verify_consistency(8, 8, root, flip(root, 0), [])


def test_tree_builder_gives_the_same_roots_as_a_frontier() -> None:
    import hashlib

    from rempart.audit import merkle

    class Small(merkle.TreeBuilder):
        CHUNK = 4

    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(70)]
    for builder in (Small(), merkle.TreeBuilder()):
        assert builder.root() == merkle.EMPTY_ROOT
        for size, leaf in enumerate(leaves, start=1):
            builder.append(leaf)
            assert builder.size == size
            assert builder.root() == merkle.root_hash(leaves[:size]), size


@given(size=st.integers(min_value=2, max_value=1 << 40), data=st.data())
def test_a_proofs_stored_roots_fall_in_one_tile_per_band(size: int, data: st.DataObject) -> None:
    """The roots an inclusion proof reads from the tiles lie in one tile per band of
    TILE_HEIGHT levels (four tiles at 10 M entries, where they were one row or more per
    level), the others are the head's frontier; a tile holds only subtrees under its top."""
    entry = data.draw(st.integers(min_value=0, max_value=size - 1))
    frontier = set(merkle.frontier_nodes(size))
    needed = [node for pieces in merkle.inclusion_plan(entry, size) for node in pieces]
    stored = [(level, idx) for level, idx in needed if level > 0 and (level, idx) not in frontier]
    bands = {level // merkle.TILE_HEIGHT for level, _ in stored}
    assert len({merkle.node_tile(level, idx)[0] for level, idx in stored}) == len(bands)
    for level, idx in stored:
        above = (level // merkle.TILE_HEIGHT + 1) * merkle.TILE_HEIGHT
        top = (above - 1, idx >> (above - 1 - level))  # the tile's top node, its ancestor
        assert merkle.node_tile(level, idx)[0] == merkle.node_tile(*top)[0]
    # The frontier, largest first, is what the signer keeps for a tree of that size.
    assert [1 << level for level, _ in merkle.frontier_nodes(size)] == [
        1 << bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1
    ]


@given(
    level=st.integers(min_value=1, max_value=40),
    idx=st.integers(min_value=0, max_value=1 << 20),
    value=st.binary(min_size=32, max_size=32).filter(lambda b: b != merkle.MISSING),
)
def test_a_root_reads_back_from_its_tile_slot(level: int, idx: int, value: bytes) -> None:
    """Each root has its own slot inside its tile's blob (one page at most) and
    ``tile_nodes`` names it back; a sibling's slot is another one."""
    tile, slot = merkle.node_tile(level, idx)
    blob = bytearray(merkle.tile_size(tile))
    assert len(blob) <= merkle.TILE_SLOTS * merkle.HASH_SIZE <= 4032
    blob[slot * 32 : (slot + 1) * 32] = value
    assert merkle.tile_nodes(tile, bytes(blob)) == [(level, idx, value)]
    assert merkle.node_tile(level, idx ^ 1) != (tile, slot)
    assert merkle.node_tile(level + 1, idx) != (tile, slot)

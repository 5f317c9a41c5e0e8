"""Batch inclusion proofs (one pass for a report's whole dataset) equal RFC 9162 paths
proved one by one, and verify under the root."""

from __future__ import annotations

import hashlib
import random

import pytest

from rempart.audit import merkle
from rempart.audit.batch import inclusion_paths


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 31, 33, 100, 257])
def test_batch_paths_equal_single_paths(size: int) -> None:
    leaves = [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(size)]
    root = merkle.root_hash(leaves)
    rng = random.Random(size)
    wanted = sorted(rng.sample(range(size), min(size, 1 + size // 3)))
    paths = inclusion_paths(leaves, wanted)
    assert sorted(paths) == wanted
    for index in wanted:
        assert paths[index] == merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, size, paths[index], root)
    with pytest.raises(ValueError, match="outside"):
        inclusion_paths(leaves, [size])

"""Matching PDQ hashes against a bank: multi-index hashing with exact recall.

A match is a Hamming distance of at most 31 over 256 bits. Split the hash into m chunks:
if two hashes are within 31 bits, some chunk differs by at most r bits as soon as
m * (r + 1) > 31 (pigeonhole). Probing, in every chunk, the query's value and all values
within r bits finds every true match; checking the candidates' full distance drops the
rest. So the result equals brute force by construction, whatever the bank holds.

Two layouts, chosen by bank size:
- small banks: 16 chunks of 16 bits, r = 1 (17 probes a chunk);
- large banks: 11 chunks of 23-24 bits, r = 2 (about 290 probes a chunk, but buckets of
  about one hash at 10 million, so few candidates to check).
Each chunk position has a direct-address table of bucket offsets (CSR), so a probe is an
array lookup, not a search.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import numpy.typing as npt

MATCH_DISTANCE = 31
MIN_QUALITY = 50
SMALL_LAYOUT = ((16,) * 16, 1)
LARGE_LAYOUT = ((24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23), 2)
LARGE_BANK = 1 << 20


def parse(hex_hashes: Sequence[str]) -> npt.NDArray[np.uint8]:
    """(n, 32) bytes from 64-character hexadecimal PDQ hashes."""
    if not hex_hashes:
        return np.zeros((0, 32), dtype=np.uint8)
    joined = bytes.fromhex("".join(hex_hashes))
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(hex_hashes), 32)


def usable(quality: int | None) -> bool:
    """PDQ hashes of low quality (flat or tiny images) match too much to be evidence."""
    return quality is not None and quality >= MIN_QUALITY


def distances(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Hamming distances between rows of ``a`` (q, 32) and of ``b`` (n, 32): (q, n)."""
    x = a.view(np.uint64)[:, None, :] ^ b.view(np.uint64)[None, :, :]
    result: npt.NDArray[np.int64] = np.bitwise_count(x).sum(axis=2, dtype=np.int64)
    return result


def _chunk(words: npt.NDArray[np.uint64], start: int, bits: int) -> npt.NDArray[np.int64]:
    """Bits ``start`` .. ``start + bits`` of each 256-bit hash (big-endian words), as ints."""
    word, offset = divmod(start, 64)
    mask = np.uint64((1 << bits) - 1)
    if offset + bits <= 64:
        value = (words[:, word] >> np.uint64(64 - offset - bits)) & mask
    else:
        spill = offset + bits - 64
        high = (words[:, word] << np.uint64(spill)) & mask
        value = high | (words[:, word + 1] >> np.uint64(64 - spill))
    return value.astype(np.int64)


def _masks(bits: int, radius: int) -> npt.NDArray[np.int64]:
    masks = [0]
    for weight in range(1, radius + 1):
        masks += [sum(1 << b for b in chosen) for chosen in combinations(range(bits), weight)]
    return np.array(masks, dtype=np.int64)


class PdqIndex:
    def __init__(
        self,
        hashes: npt.NDArray[np.uint8],
        ids: npt.NDArray[np.int64],
        layout: tuple[tuple[int, ...], int] | None = None,
    ) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
        self.ids = np.asarray(ids, dtype=np.int64)
        if layout is None:
            layout = LARGE_LAYOUT if len(self.ids) >= LARGE_BANK else SMALL_LAYOUT
        sizes, self.radius = layout
        if sum(sizes) != 256 or len(sizes) * (self.radius + 1) <= MATCH_DISTANCE:
            raise ValueError("this layout cannot guarantee recall at distance 31")
        self.layout = [(sum(sizes[:i]), size) for i, size in enumerate(sizes)]
        words = self.hashes.view(">u8").astype(np.uint64)
        self.offsets: list[npt.NDArray[np.int64]] = []
        self.rows: list[npt.NDArray[np.int32]] = []
        self.masks = {size: _masks(size, self.radius) for size in set(sizes)}
        for start, size in self.layout:
            values = _chunk(words, start, size)
            self.rows.append(np.argsort(values, kind="stable").astype(np.int32))
            counts = np.bincount(values, minlength=1 << size)
            self.offsets.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    def memory_bytes(self) -> int:
        tables = sum(o.nbytes for o in self.offsets) + sum(r.nbytes for r in self.rows)
        return int(self.hashes.nbytes + self.ids.nbytes + tables)

    def _pairs(
        self, queries: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query number, bank row) of every candidate, possibly repeated. Vectorised over
        the batch, one chunk position at a time."""
        words = queries.view(">u8").astype(np.uint64)
        query_parts: list[npt.NDArray[np.int64]] = []
        row_parts: list[npt.NDArray[np.int64]] = []
        for (start, size), offsets, rows in zip(self.layout, self.offsets, self.rows, strict=True):
            masks = self.masks[size]
            probes = (_chunk(words, start, size)[:, None] ^ masks[None, :]).ravel()
            starts = offsets[probes]
            lengths = offsets[probes + 1] - starts
            total = int(lengths.sum())
            if not total:
                continue
            # Positions start..end-1 of every probe, flattened without a Python loop.
            first = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            row_parts.append(rows[first + np.arange(total)].astype(np.int64))
            query_parts.append(np.repeat(np.arange(len(probes)) // len(masks), lengths))
        if not row_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        # Duplicates (a row found through several chunks) are dropped after the distance
        # filter, when few pairs are left: de-duplicating every candidate costs more.
        return np.concatenate(query_parts), np.concatenate(row_parts)

    def search(
        self, queries: npt.NDArray[np.uint8], max_distance: int = MATCH_DISTANCE, batch: int = 256
    ) -> list[list[tuple[int, int]]]:
        """For each query, (id, distance) of every bank hash within ``max_distance``,
        nearest first."""
        if max_distance > MATCH_DISTANCE:
            raise ValueError("the index guarantees recall up to distance 31 only")
        results: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
        if not len(self.ids):
            return results
        for first in range(0, len(queries), batch):
            chunk = np.ascontiguousarray(queries[first : first + batch], dtype=np.uint8)
            query_of, rows = self._pairs(chunk)
            if not len(rows):
                continue
            xor = chunk.view(np.uint64)[query_of] ^ self.hashes.view(np.uint64)[rows]
            dist = np.bitwise_count(xor).sum(axis=1, dtype=np.int64)
            keep = dist <= max_distance
            pairs = np.unique(np.stack([query_of[keep], rows[keep], dist[keep]]), axis=1)
            # By query, then distance, then bank row: the order brute force gives.
            order = np.lexsort((pairs[1], pairs[2], pairs[0]))
            for q, row, d in pairs[:, order].T:
                results[first + int(q)].append((int(self.ids[row]), int(d)))
        return results


def brute_force(
    bank: npt.NDArray[np.uint8],
    ids: npt.NDArray[np.int64],
    queries: npt.NDArray[np.uint8],
    max_distance: int = MATCH_DISTANCE,
) -> list[list[tuple[int, int]]]:
    """The reference the index must equal; fine for small banks and for tests."""
    results = []
    for query in queries:
        dist = distances(query[None, :], bank)[0]
        keep = np.flatnonzero(dist <= max_distance)
        order = keep[np.argsort(dist[keep], kind="stable")]
        results.append([(int(ids[i]), int(dist[i])) for i in order])
    return results

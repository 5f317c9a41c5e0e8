"""Matching PDQ hashes against a bank: multi-index hashing with exact recall.

A match is a Hamming distance of at most 31 over 256 bits. Split the hash into 16 chunks
of 16 bits: two hashes within 31 bits differ by at most 1 bit in at least one chunk (16
chunks each differing by 2 or more would make 32). So probing each chunk's value and its
16 one-bit neighbours in a sorted per-chunk table finds every true match; verifying the
candidates by popcount drops the rest. The result equals brute force by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MATCH_DISTANCE = 31
MIN_QUALITY = 50
CHUNKS = 16
_FLIPS = np.concatenate([[0], 1 << np.arange(16)]).astype(np.uint16)


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


class PdqIndex:
    def __init__(self, hashes: npt.NDArray[np.uint8], ids: npt.NDArray[np.int64]) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
        self.ids = np.asarray(ids, dtype=np.int64)
        chunks = self.hashes.view(">u2")  # (n, 16) big-endian 16-bit chunks
        # One contiguous row per chunk position: searchsorted needs contiguous columns.
        self.order = np.ascontiguousarray(np.argsort(chunks, axis=0, kind="stable").T, np.int32)
        self.sorted_chunks = np.ascontiguousarray(
            np.take_along_axis(chunks.T, self.order, axis=1), dtype=np.uint16
        )

    def __len__(self) -> int:
        return len(self.ids)

    def memory_bytes(self) -> int:
        return int(
            self.hashes.nbytes + self.ids.nbytes + self.order.nbytes + self.sorted_chunks.nbytes
        )

    def _pairs(
        self, queries: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query number, bank row) of every candidate, possibly repeated: rows sharing a
        chunk with the query up to one flipped bit. Vectorised over the batch, per chunk."""
        chunks = queries.view(">u2").astype(np.uint16)  # (q, 16)
        query_parts: list[npt.NDArray[np.int64]] = []
        row_parts: list[npt.NDArray[np.int64]] = []
        for position in range(CHUNKS):
            probes = (chunks[:, position, None] ^ _FLIPS[None, :]).ravel()  # (q * 17,)
            column = self.sorted_chunks[position]
            starts = np.searchsorted(column, probes, side="left")
            lengths = np.searchsorted(column, probes, side="right") - starts
            total = int(lengths.sum())
            if not total:
                continue
            # Positions start..end-1 of every probe, flattened without a Python loop.
            offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            slots = offsets + np.arange(total)
            row_parts.append(self.order[position, slots].astype(np.int64))
            query_parts.append(np.repeat(np.arange(len(probes)) // len(_FLIPS), lengths))
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
            query_of, rows, dist = pairs[0], pairs[1], pairs[2]
            # By query, then distance, then bank row: the order brute force gives.
            order = np.lexsort((rows, dist, query_of))
            for q, row, d in zip(query_of[order], rows[order], dist[order], strict=True):
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

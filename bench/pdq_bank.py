"""PDQ lookups against a large bank: the multi-index hashing of ``rempart.moderation.pdq``
against brute force.

    .venv/bin/python bench/pdq_bank.py --size 10000000 --queries 2000

The bank mixes uniform random hashes with clusters of near-duplicates (as real banks hold
many edits of the same image); half the queries are near-matches (1 to 31 bits from a bank
hash), half unrelated.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from rempart.moderation.pdq import PdqIndex, brute_force


def flip(rng: np.random.Generator, hashes: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Each row with ``bits[row]`` distinct bits flipped, vectorised: random keys per bit,
    and the rows' smallest keys pick their bits."""
    out = hashes.copy()
    for start in range(0, len(hashes), 100_000):
        part = slice(start, start + 100_000)
        ranks = rng.random((len(out[part]), 256)).argsort(axis=1).argsort(axis=1)
        out[part] ^= np.packbits(ranks < bits[part, None], axis=1, bitorder="little")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--check", type=int, default=200, help="queries checked by brute force")
    args = parser.parse_args()
    rng = np.random.default_rng(31)
    clustered = args.size // 10
    bank = rng.integers(0, 256, size=(args.size, 32), dtype=np.uint8)
    centres = bank[rng.integers(0, args.size - clustered, size=3000)]
    members = centres[rng.integers(0, len(centres), size=clustered)]
    bank[-clustered:] = flip(rng, members, rng.integers(0, 41, size=clustered))
    ids = np.arange(args.size, dtype=np.int64)
    started = time.perf_counter()
    index = PdqIndex(bank, ids)
    build = time.perf_counter() - started
    near = flip(
        rng,
        bank[rng.integers(0, args.size, size=args.queries // 2)],
        rng.integers(1, 32, size=args.queries // 2),
    )
    unrelated = rng.integers(0, 256, size=(args.queries - len(near), 32), dtype=np.uint8)
    queries = np.concatenate([near, unrelated])
    started = time.perf_counter()
    results = index.search(queries)
    elapsed = time.perf_counter() - started
    sample = np.concatenate([queries[: args.check // 2], queries[-args.check // 2 :]])
    expected = brute_force(bank, ids, sample)
    got = index.search(sample)
    recall_equal = got == expected
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    memory = index.memory_bytes() / 2**20
    rate = len(queries) / elapsed
    matched = sum(bool(r) for r in results)
    print(f"bank {args.size:,} hashes; build {build:.1f} s; index {memory:,.0f} MiB")
    print(f"peak RSS {rss:,.0f} MiB")
    print(f"{len(queries):,} lookups in {elapsed:.2f} s: {rate:,.0f} lookups/s (one core)")
    print(f"{matched} queries matched; equal to brute force on {len(sample)}: {recall_equal}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

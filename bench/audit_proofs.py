"""Inclusion proofs, consistency proofs and order receipts over logs of growing size.

    .venv/bin/python bench/audit_proofs.py --sizes 20000,200000 [--database-url …]

For each size, appends entries through the audit service's own append path (one order in
a hundred entries, each with five entries about it), signing a head every 5 % of the way,
then times at the service layer (no HTTP) the proofs a public request asks for: an
inclusion proof of a random entry under the latest head, a consistency proof between two
random signed heads, and an order's receipt (inclusion proofs of its entries). Prints the
median and the worst of each, and the ratio between the largest and the smallest size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rempart.audit import service as audit
from rempart.audit.models import AuditHead
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings

BATCH = 5_000
RUNS = 200


def _entries(start: int, count: int) -> list[dict[str, Any]]:
    items = []
    for seq in range(start, start + count):
        order = seq // 100
        target = f"order:BENCH-{order}" if seq % 100 < 5 else f"case:{seq}"
        action = "legal.order.step" if seq % 100 < 5 else "platform.ingest"
        items.append(
            {
                "actor": "system:bench",
                "action": action,
                "target": target,
                "country": None,
                "details": {"n": seq},
            }
        )
    return items


def grow(rt: Runtime, start: int, size: int) -> None:
    step = max(BATCH, size // 20)
    written = start
    while written < size:
        chunk = min(step, size - written)
        for offset in range(0, chunk, BATCH):
            count = min(BATCH, chunk - offset)
            with transaction(rt.engine) as session:
                audit.append_entries(session, _entries(written + offset, count))
        written += chunk
        audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)


def timed(call: Callable[..., Any], **arguments: Any) -> float:
    started = time.perf_counter()
    call(**arguments)
    return (time.perf_counter() - started) * 1000


def measure(rt: Runtime, size: int, rng: random.Random) -> dict[str, tuple[float, float]]:
    with transaction(rt.engine, readonly=True) as session:
        heads = list(session.execute(select(AuditHead.tree_size)).scalars())
        results: dict[str, list[float]] = {"inclusion": [], "consistency": [], "receipt": []}
        for _ in range(RUNS):
            first, second = sorted(rng.sample(heads, 2))
            common = {"session": session, "keys": rt.keys}
            results["inclusion"].append(
                timed(audit.prove_inclusion, **common, entry=rng.randrange(size))
            )
            results["consistency"].append(
                timed(audit.prove_consistency, **common, first=first, second=second)
            )
            target = f"order:BENCH-{rng.randrange(size // 100)}"
            results["receipt"].append(
                timed(audit.prove_target, **common, target=target, action_prefix="legal.")
            )
    return {k: (statistics.median(v), max(v)) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    folder = Path(tempfile.mkdtemp(prefix="rempart-proofs-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'log.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )
    rng = random.Random(7)
    figures: dict[int, dict[str, tuple[float, float]]] = {}
    written = 0
    for size in sizes:
        started = time.perf_counter()
        grow(rt, written, size)
        written = size
        print(f"{size:,} entries written and signed in {time.perf_counter() - started:.1f} s")
        figures[size] = measure(rt, size, rng)
        for kind, (p50, worst) in figures[size].items():
            print(f"  {kind:<12} p50 {p50:7.2f} ms   max {worst:7.2f} ms   ({RUNS} runs)")
    if len(sizes) > 1:
        small, large = figures[sizes[0]], figures[sizes[-1]]
        for kind in small:
            print(
                f"ratio {kind} p50 {sizes[-1]:,} / {sizes[0]:,}: "
                f"{large[kind][0] / small[kind][0]:.2f}"
            )
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Inclusion proofs, consistency proofs and order receipts over logs of growing size.

    .venv/bin/python bench/audit_proofs.py --sizes 100000,10000000 [--database-url …]

For each size, appends entries through the audit service's own append path
(``append_entries``, 50,000 entries a transaction; one order in a hundred entries, each
with five entries about it) and signs a head every 5 % of the way with the worker's own
``sign_head``, which stores the subtree roots: the log is the one Rempart would hold, built
by its own code, only in larger transactions. Then it times at the service layer (no HTTP)
the proofs a public request asks for: an inclusion proof of a random entry under the
latest head, a consistency proof between two random signed heads, and an order's receipt
(inclusion proofs of its entries). Every timed proof is then checked offline
(``check_inclusion``, ``check_consistency``) and ``audit verify`` recomputes the whole log
at the smallest size (at every size with ``--verify``). Prints the median and the worst of
each, and the ratio between the largest and the smallest size.
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
from rempart.audit.models import AuditHead, AuditTail
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings

BATCH = 50_000
GOALS_MS = {"inclusion": 10.0, "consistency": 10.0, "receipt": 50.0}
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


def grow(rt: Runtime, start: int, size: int) -> tuple[float, float]:
    """Append up to ``size`` entries and sign a head every 5 %: seconds appending, signing."""
    step = max(1, (size - start) // 20)
    written = start
    appending = signing = 0.0
    while written < size:
        chunk = min(step, size - written)
        started = time.perf_counter()
        for offset in range(0, chunk, BATCH):
            count = min(BATCH, chunk - offset)
            with transaction(rt.engine) as session:
                audit.append_entries(session, _entries(written + offset, count))
        written += chunk
        appending += time.perf_counter() - started
        started = time.perf_counter()
        audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
        signing += time.perf_counter() - started
        print(f"    {written:,} entries, head signed", flush=True)
    return appending, signing


def timed(call: Callable[..., Any], proofs: list[Any], **arguments: Any) -> tuple[float, float]:
    """Milliseconds of wall time and of this thread's CPU: on a loaded machine the first
    also counts the wait for a core."""
    started, used = time.perf_counter(), time.thread_time()
    proofs.append(call(**arguments))
    return (time.perf_counter() - started) * 1000, (time.thread_time() - used) * 1000


Figures = dict[str, tuple[float, float, float]]  # p50 wall, max wall, p50 CPU (ms)


def measure(rt: Runtime, size: int, rng: random.Random) -> Figures:
    proofs: dict[str, list[Any]] = {"inclusion": [], "consistency": [], "receipt": []}
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in proofs}
    with transaction(rt.engine, readonly=True) as session:
        heads = list(session.execute(select(AuditHead.tree_size)).scalars())
        for _ in range(RUNS):
            first, second = sorted(rng.sample(heads, 2))
            common = {"session": session, "keys": rt.keys}
            results["inclusion"].append(
                timed(
                    audit.prove_inclusion, proofs["inclusion"], **common, entry=rng.randrange(size)
                )
            )
            results["consistency"].append(
                timed(
                    audit.prove_consistency,
                    proofs["consistency"],
                    **common,
                    first=first,
                    second=second,
                )
            )
            target = f"order:BENCH-{rng.randrange(size // 100)}"
            results["receipt"].append(
                timed(
                    audit.prove_target,
                    proofs["receipt"],
                    **common,
                    target=target,
                    action_prefix="legal.",
                )
            )
    # What was timed must be what a client can check: every proof, offline.
    receipts = [proof for receipt in proofs["receipt"] for proof in receipt]
    if len(receipts) != 5 * RUNS:
        raise SystemExit(f"receipts held {len(receipts)} proofs, not 5 per order")
    if not all(audit.check_inclusion(p) for p in proofs["inclusion"] + receipts):
        raise SystemExit("an inclusion proof does not check")
    if not all(audit.check_consistency(p) for p in proofs["consistency"]):
        raise SystemExit("a consistency proof does not check")
    return {
        kind: (
            statistics.median(wall for wall, _ in values),
            max(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for kind, values in results.items()
    }


def verify(rt: Runtime) -> None:
    started = time.perf_counter()
    with transaction(rt.engine, readonly=True) as session:
        result = audit.verify_log(session, head_file=rt.head_file, keys=rt.keys)
    if not result.ok:
        raise SystemExit(f"audit verify failed: {result.problems[:3]}")
    print(
        f"  audit verify: {result.entries:,} entries and {result.heads_checked} heads "
        f"recomputed, ok ({time.perf_counter() - started:.0f} s)"
    )


def runtime_for(args: argparse.Namespace, size: int) -> Runtime:
    """Each size gets its own log: under ``--keep DIR`` in DIR/<size>, reused when there."""
    if args.keep is not None:
        folder = args.keep / str(size)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="rempart-proofs-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'log.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
    )
    if not settings.key_file.exists():
        crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    return Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,10000000")
    parser.add_argument("--database-url", default=None, help="one size only: one log")
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the logs here")
    parser.add_argument("--verify", action="store_true", help="audit verify at every size")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.database_url and len(sizes) > 1:
        parser.error("--database-url holds one log: give one size")
    rng = random.Random(7)
    figures: dict[int, Figures] = {}
    for size in sizes:
        rt = runtime_for(args, size)
        with transaction(rt.engine, readonly=True) as session:
            written = session.execute(select(AuditTail.size)).scalar_one()
        if written > size:
            raise SystemExit(f"the kept log for {size:,} holds {written:,} entries")
        appending, signing = grow(rt, written, size)
        print(
            f"{size:,} entries ({written:,} kept): appended in {appending:.0f} s, heads signed "
            f"(subtree roots stored) in {signing:.0f} s; {rt.settings.database_url}"
        )
        if size == sizes[0] or args.verify:
            verify(rt)
        figures[size] = measure(rt, size, rng)
        for kind, (p50, worst, cpu) in figures[size].items():
            verdict = "ok" if p50 < GOALS_MS[kind] else "MISSED"
            print(
                f"  {kind:<12} p50 {p50:7.2f} ms   max {worst:7.2f} ms   CPU p50 {cpu:6.2f} ms  "
                f"({RUNS} runs, checked offline; goal p50 < {GOALS_MS[kind]:.0f} ms: {verdict})"
            )
    if len(sizes) > 1:
        small, large = figures[sizes[0]], figures[sizes[-1]]
        for kind in small:
            print(
                f"ratio {kind} p50 {sizes[-1]:,} / {sizes[0]:,}: wall "
                f"{large[kind][0] / small[kind][0]:.2f}, CPU {large[kind][2] / small[kind][2]:.2f} "
                "(goal < 2)"
            )
    print("layer: service (no HTTP)")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

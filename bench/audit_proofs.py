"""Inclusion proofs, consistency proofs and order receipts over logs of growing size.

    .venv/bin/python bench/audit_proofs.py --sizes 100000,10000000 [--database-url …]

For each size, appends entries through the audit service's own append path
(``append_entries``, 50,000 entries a transaction; one order in a hundred entries, each
with five entries about it) and signs a head every 5 % of the way with the worker's own
``sign_head``, which stores the subtree roots: the log is the one Rempart would hold, built
by its own code, only in larger transactions. Then it times at the service layer (no HTTP)
the proofs a public request asks for: an inclusion proof of a random entry under the
latest head, a consistency proof between two random signed heads, and an order's receipt
(inclusion proofs of its entries). On SQLite each kind is timed twice: cold, the database
file's pages evicted from the OS cache (``posix_fadvise(DONTNEED)``, no root needed) and a
new connection before each proof, and warm, in one read transaction with the pages cached.
Every timed proof is then checked offline (``check_inclusion``, ``check_consistency``) and
``audit verify`` recomputes the whole log at the smallest size (at every size with
``--verify``). Prints the median and the 99th centile of each, and the ratios between the
largest and the smallest size.
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


def io_counters() -> tuple[int, int]:
    """This thread's read system calls and bytes the kernel fetched from the disk for it
    (Linux): what a cold proof reads, whatever the load does to its wall time."""
    try:
        fields = dict(
            line.split(": ") for line in Path("/proc/thread-self/io").read_text().splitlines()
        )
    except OSError:
        return 0, 0
    return int(fields["syscr"]), int(fields["read_bytes"])


# Reading the counters is itself a read call or two.
_COUNTER_READS = -(io_counters()[0] - io_counters()[0])

Sample = tuple[float, float, int, int]  # wall ms, CPU ms, read calls, KiB from the disk


def timed(call: Callable[..., Any], proofs: list[Any], **arguments: Any) -> Sample:
    """Milliseconds of wall time and of this thread's CPU (on a loaded machine the first
    also counts the wait for a core), read calls and KiB read from the disk."""
    calls, fetched = io_counters()
    started, used = time.perf_counter(), time.thread_time()
    proofs.append(call(**arguments))
    wall, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - used) * 1000
    calls_after, fetched_after = io_counters()
    return wall, cpu, calls_after - calls - _COUNTER_READS, (fetched_after - fetched) // 1024


def sqlite_files(rt: Runtime) -> list[Path]:
    database = rt.engine.url.database
    if rt.engine.dialect.name != "sqlite" or not database:
        return []
    return [Path(database + suffix) for suffix in ("", "-wal")]


def drop_cached_pages(files: list[Path], *, flush: bool = False) -> None:
    """Evict the files' pages from the OS page cache (clean pages only: ``flush`` writes
    dirty ones first), as another process's reads would on a busy server."""
    for path in files:
        if not path.exists():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            if flush:
                os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def page_read_ms(path: Path, rng: random.Random) -> float:
    """The median time of one 4 KiB read at a random place in the file, pages evicted: what
    each page a proof reads costs when it is not cached."""
    fd = os.open(path, os.O_RDONLY)
    try:
        pages = os.fstat(fd).st_size // 4096
        times = []
        for _ in range(100):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            offset = rng.randrange(pages) * 4096
            started = time.perf_counter()
            os.pread(fd, 4096, offset)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
    return statistics.median(times)


# p50 wall, p99 wall, p50 CPU (ms), p50 read calls, p50 KiB from the disk
Figures = dict[str, tuple[float, float, float, float, float]]


def measure(rt: Runtime, size: int, rng: random.Random, *, cold: bool) -> Figures:
    """RUNS proofs of each kind. Cold: before each proof the pooled connections are closed
    (SQLite's own page cache goes with them) and the database's pages are evicted from the
    OS cache; the new connection is opened and its schema read before the clock starts,
    as a server's pooled connection has them. Warm: one read transaction, the same proofs
    run once untimed first, so that their pages are cached."""
    files = sqlite_files(rt)
    proofs: dict[str, list[Any]] = {"inclusion": [], "consistency": [], "receipt": []}
    results: dict[str, list[Sample]] = {kind: [] for kind in proofs}
    with transaction(rt.engine, readonly=True) as session:
        heads = list(session.execute(select(AuditHead.tree_size)).scalars())
    drop_cached_pages(files, flush=True)

    calls: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []
    for _ in range(RUNS):
        first, second = sorted(rng.sample(heads, 2))
        target = f"order:BENCH-{rng.randrange(size // 100)}"
        calls += [
            ("inclusion", audit.prove_inclusion, {"entry": rng.randrange(size)}),
            ("consistency", audit.prove_consistency, {"first": first, "second": second}),
            ("receipt", audit.prove_target, {"target": target, "action_prefix": "legal."}),
        ]
    if cold:
        for kind, call, arguments in calls:
            rt.engine.dispose()
            with transaction(rt.engine, readonly=True) as session:
                session.execute(select(AuditTail.size)).scalar_one()
                drop_cached_pages(files)
                sample = timed(call, proofs[kind], session=session, keys=rt.keys, **arguments)
            results[kind].append(sample)
    else:
        # The same proofs twice, timed the second time: a random entry's pages are not
        # cached just because the last proof was.
        with transaction(rt.engine, readonly=True) as session:
            for timing in (False, True):
                for kind, call, arguments in calls:
                    done: list[Any] = proofs[kind] if timing else []
                    sample = timed(call, done, session=session, keys=rt.keys, **arguments)
                    if timing:
                        results[kind].append(sample)
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
            statistics.median(sample[0] for sample in values),
            statistics.quantiles([sample[0] for sample in values], n=100)[98],
            statistics.median(sample[1] for sample in values),
            statistics.median(sample[2] for sample in values),
            statistics.median(sample[3] for sample in values),
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
    figures: dict[tuple[str, int], Figures] = {}
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
        files = sqlite_files(rt)
        if files:
            print(f"  one 4 KiB page read, evicted: p50 {page_read_ms(files[0], rng):.3f} ms")
        for mode in ("cold", "warm") if files else ("warm",):
            figures[(mode, size)] = measure(rt, size, rng, cold=mode == "cold")
            for kind, (p50, p99, cpu, calls, fetched) in figures[(mode, size)].items():
                verdict = "ok" if p50 < GOALS_MS[kind] else "MISSED"
                print(
                    f"  {mode} {kind:<12} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   CPU p50 "
                    f"{cpu:6.2f} ms   reads p50 {calls:5.0f} ({fetched:5.0f} KiB from disk)  "
                    f"({RUNS} runs, checked offline; goal p50 < {GOALS_MS[kind]:.0f} ms: "
                    f"{verdict})",
                    flush=True,
                )
        print(f"  load average: {os.getloadavg()}", flush=True)
    if len(sizes) > 1:
        for mode, size in figures:
            if size != sizes[-1]:
                continue
            small, large = figures[(mode, sizes[0])], figures[(mode, size)]
            for kind in small:
                print(
                    f"ratio {mode} {kind} {size:,} / {sizes[0]:,}: p50 wall "
                    f"{large[kind][0] / small[kind][0]:.2f}, p99 wall "
                    f"{large[kind][1] / small[kind][1]:.2f}, CPU "
                    f"{large[kind][2] / small[kind][2]:.2f} (goal < 2)"
                )
    print("layer: service (no HTTP)")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

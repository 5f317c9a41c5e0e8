"""Classifier speed through the real worker: a scan and a full rescan of N distinct posts.

    nice -n 10 .venv/bin/python bench/rescan_speed.py --data ../shared/data --posts 5000 \
        [--workers 2] [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-semantic]

Layer: the worker process as deployed (`rempart worker --once`, the committed cascade, the
database writes of every scan job), no HTTP. Posts are ordinary traffic of 30 words, all
different (windows of consecutive SMS ham words, read from ``--data`` at run time, so no
embedding is a cache hit), ingested through the platform's ingest service. Then:
1. the first scan: ``--workers`` fresh worker processes drain the scan jobs the ingest
   queued;
2. a full rescan (`rempart moderation rescan`), drained by as many fresh worker processes
   (an empty embedding cache, as after a model change).
With ``--rescan-only`` the first scan's jobs are deleted unrun and only the rescan is timed.
With ``--policy-rescan``, then a rescan as a policy or rule change plans it
(`rempart moderation rescan --reuse-scores`): the classifier's stored answers are reused,
so it measures the database side of a rescan.
Prints posts/s wall clock for each, the share the semantic stage answered, the load average
before and after, and what 1 M posts would take at the measured rate (an extrapolation).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from rescan_load import database, drop, jobs_left  # noqa: E402


def ordinary_posts(data: Path, posts: int) -> list[str]:
    """Windows of 30 consecutive SMS ham words, every 3 words: all different texts."""
    ham = []
    for line in (data / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines():
        tag, _, text = line.partition("\t")
        if tag == "ham":
            ham.append(text)
    words = " ".join(ham).split()
    texts = list(dict.fromkeys(" ".join(words[k : k + 30]) for k in range(0, len(words) - 30, 3)))
    if len(texts) < posts:
        raise SystemExit(f"only {len(texts)} distinct posts available")
    return texts[:posts]


def ingest(texts: list[str]) -> None:
    import rempart.moderation.tasks  # noqa: F401  (subscribes moderation to ingest)
    from rempart.core.cli import cli_runtime
    from rempart.platform import service
    from rempart.platform.schemas import event_batch_adapter

    rt = cli_runtime(None)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    events = [
        {
            "id": "e-entity",
            "type": "entity.published",
            "occurred_at": at,
            "entity_id": "ch-bench",
            "kind": "channel",
            "title": "Bench",
            "owner_user_id": "u-bench",
            "member_count": 40,
        }
    ] + [
        {
            "id": f"e-{n}",
            "type": "post.published",
            "occurred_at": at,
            "post_id": f"p-{n}",
            "entity_id": "ch-bench",
            "text": text,
        }
        for n, text in enumerate(texts)
    ]
    for start in range(0, len(events), 500):
        batch = event_batch_adapter.validate_python({"events": events[start : start + 500]})
        digest = hashlib.sha256(str(start).encode()).hexdigest()
        with rt.unit_of_work() as session:
            service.ingest(session, keys=rt.keys, batch=batch, body_digest=digest, actor="bench")


def drain(workers: int, env: dict[str, str], url: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the worker processes', user and system) to run every
    queued job."""
    script = str(Path(sys.executable).with_name("rempart"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [script, "worker", "--once"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    left = jobs_left(url)
    if left:
        print(f"  warning: {left} jobs left")
    return elapsed, cpu


def drop_scan_jobs(url: str) -> None:
    """A bench's shortcut: the ingest's scan jobs are deleted unrun, so that the rescan's
    workers classify every post once."""
    import sqlalchemy as sa

    from rempart.core.db import get_engine, transaction

    with transaction(get_engine(url)) as session:
        session.execute(sa.text("DELETE FROM jobs WHERE kind = 'moderation.scan'"))


def semantic_share(url: str) -> str:
    import sqlalchemy as sa

    from rempart.core.db import get_engine, transaction

    with transaction(get_engine(url), readonly=True) as session:
        rows = session.execute(
            sa.text("SELECT signals FROM moderation_items WHERE kind = 'post'")
        ).all()
    semantic = sum(1 for (signals,) in rows if "/semantic" in str(signals))
    return f"{semantic} of {len(rows)} items carry a semantic-stage signal (score >= 0.05)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; SQLite when absent")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument(
        "--rescan-only",
        action="store_true",
        help="drop the scan jobs the ingest queued and time the full rescan alone",
    )
    parser.add_argument(
        "--policy-rescan",
        action="store_true",
        help="then time a rescan that reuses the stored classifier answers (policy change)",
    )
    args = parser.parse_args()
    texts = ordinary_posts(args.data, args.posts)
    folder = Path(tempfile.mkdtemp(prefix="rempart-rescan-speed-"))
    url, pg_name = database(folder, args.postgres)
    env = {
        **os.environ,
        "REMPART_DATABASE_URL": url,
        "REMPART_KEY_FILE": str(folder / "keys.json"),
        "REMPART_AUDIT_HEAD_FILE": str(folder / "heads.jsonl"),
        "REMPART_NOTIFICATION_OUTBOX": str(folder / "outbox.jsonl"),
        "REMPART_DEMO": "1",
        "REMPART_CLASSIFIER_SEMANTIC": "0" if args.no_semantic else "1",
        # One engine thread per worker process: the processes share the cores.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    os.environ.update(env)
    script = str(Path(sys.executable).with_name("rempart"))
    for command in (["keys", "init", "--demo"], ["db", "upgrade"]):
        subprocess.run([script, *command], env=env, check=True, stdout=subprocess.DEVNULL)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{backend}, {len(texts)} distinct posts of 30 words, {args.workers} worker processes, "
        f"semantic stage {'off' if args.no_semantic else 'on'}"
    )
    started = time.monotonic()
    ingest(texts)
    print(f"ingested in {time.monotonic() - started:.0f} s")
    phases = ["first scan", "full rescan"]
    if args.rescan_only:
        phases.remove("first scan")
        drop_scan_jobs(url)
    if args.policy_rescan:
        phases.append("policy rescan")
    for phase in phases:
        if phase != "first scan":
            reuse = ["--reuse-scores"] if phase == "policy rescan" else []
            subprocess.run(
                [script, "moderation", "rescan", *reuse],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        before = os.getloadavg()
        seconds, cpu = drain(args.workers, env, url)
        rate, per_cpu = len(texts) / seconds, len(texts) / cpu
        print(
            f"{phase}: {len(texts)} posts in {seconds:.0f} s = {rate:.1f} posts/s wall; "
            f"{per_cpu:.1f} posts per CPU-second of the worker processes (start-up and model "
            f"loading included; the database server's CPU not); 1 M posts: "
            f"{1_000_000 / rate / 3600:.1f} h at the wall rate, "
            f"{1_000_000 / per_cpu / 2 / 3600:.1f} h on two otherwise idle cores at the CPU "
            f"rate (extrapolated); load before {before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
        )
    print(semantic_share(url))
    if pg_name and args.postgres:
        from rempart.core.db import get_engine

        get_engine(url).dispose()
        drop(args.postgres, pg_name)


if __name__ == "__main__":
    main()

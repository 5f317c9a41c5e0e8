"""API writes during a full rescan: real server and worker, over HTTP.

    .venv/bin/python bench/rescan_load.py [--posts 20000] [--clients 4] [--rate 4]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--no-semantic]

Seeds the demo platform (`rempart demo seed`) on a fresh database (SQLite, or a new
PostgreSQL database on the server ``--postgres`` names), starts `rempart serve` and
`rempart worker` with the semantic stage on, starts a full rescan (`rempart moderation
rescan`; with ``--after-first-scan``, only once the seed's first scan is done: the worker
then runs the rescan alone; without it, the rescan queues behind the first scan and the
load runs through both) and, until every job is done, streams
through HTTP, from ``--clients`` clients at ``--rate`` requests per second each:
notices (DSA Art. 16), moderators' decisions (the console's service, through the API),
appeals by the owners of the content removed, and order submissions signed by a demo
authority. Prints the errors by status, p50/p95/p99 latency per kind, the longest write
transaction the worker logged, and the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from rempart.core.db import get_engine, transaction
from rempart.legal import jws
from rempart.moderation.models import ModerationItem
from rempart.platform.models import Account, Post

AUTHORITY = "fr-tj-paris"  # a demo investigating judge: may order identification data
# The worker's job lines ("write transaction N ms"), and any process's slow write
# transaction on SQLite ("write lock held N ms", core/db.py).
WRITE = re.compile(r"write transaction (\d+) ms")
SLOW = re.compile(r"write lock held (\d+) ms \(([^)]*)\)")
HELD = re.compile(r"write lock held at most (\d+) ms")
WAITED = re.compile(r"waited (\d+) ms for SQLite's write lock \(([^)]*)\)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rempart(*args: str, env: dict[str, str]) -> None:
    script = str(Path(sys.executable).with_name("rempart"))
    subprocess.run([script, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def database(folder: Path, postgres: str | None) -> tuple[str, str | None]:
    """The database URL, and the PostgreSQL database to drop afterwards."""
    if postgres is None:
        return f"sqlite:///{folder / 'rempart.db'}", None
    name = f"rempart_rescan_bench_{os.getpid()}"
    admin = sa.create_engine(
        postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return f"{postgres.rsplit('/', 1)[0]}/{name}", name


def drop(postgres: str, name: str) -> None:
    admin = sa.create_engine(
        postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def jobs_left(url: str) -> int:
    with transaction(get_engine(url), readonly=True) as session:
        return int(
            session.execute(
                sa.text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
            ).scalar_one()
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    """The clients' shared state: what they can act on, and what they measured."""

    def __init__(self, url: str, folder: Path, base: str) -> None:
        self.base = base
        credentials = json.loads((folder / "demo-credentials.json").read_text())
        self.platform = {"Authorization": f"Bearer {credentials['demo-platform']}"}
        self.moderator = {"Authorization": f"Bearer {credentials['demo-moderator']}"}
        self.authority = {"Authorization": f"Bearer {credentials[f'authority:{AUTHORITY}']}"}
        self.private_jwk = json.loads(
            (folder / "demo-authority-keys" / f"{AUTHORITY}.jwk").read_text()
        )
        with transaction(get_engine(url), readonly=True) as session:
            self.posts = list(
                session.execute(
                    sa.select(Post.post_id).where(Post.deleted_at.is_(None)).limit(5000)
                ).scalars()
            )
            self.users = list(session.execute(sa.select(Account.user_id).limit(2000)).scalars())
        self.url = url
        self.lock = threading.Lock()
        # item id -> (decision id, owner): only an item's latest decision can be appealed.
        self.appealable: dict[int, tuple[int, str]] = {}
        self.decided = 0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.errors: list[str] = []
        self.raced: Counter[str] = Counter()
        self.gone: Counter[str] = Counter()
        self.removed: set[str] = set()  # posts the bench's moderators removed
        self.stop = threading.Event()

    def note(self, kind: str, started: float, response: httpx.Response | None) -> None:
        status = 0 if response is None else response.status_code
        with self.lock:
            self.latencies[kind].append(time.perf_counter() - started)
            if status == 409 and response is not None and "decision_superseded" in response.text:
                # An appeal that raced a moderator's new decision on the same item is
                # refused, as it should be: counted apart, not as a failure.
                self.raced[kind] += 1
                return
            if status == 404 and response is not None and "target_not_found" in response.text:
                # A notice about a post since taken out of public view (by the scan, or by a
                # moderator in a race with the skip above): refused, as it should be.
                self.gone[kind] += 1
                return
            self.statuses[(kind, status)] += 1
            if (status == 0 or status >= 400) and len(self.errors) < 10:
                text = "connection failed" if response is None else response.text[:200]
                self.errors.append(f"{kind} {status}: {text}")

    def send(self, http: httpx.Client, kind: str, method: str, path: str, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            response = http.request(method, path, **kw)
        except httpx.HTTPError:
            self.note(kind, started, None)
            return None
        self.note(kind, started, response)
        return response

    def notice(self, http: httpx.Client, n: int) -> None:
        post = self.posts[n % len(self.posts)]
        with self.lock:
            while post in self.removed:  # a notice about a removed post is refused (404)
                n += 1
                post = self.posts[n % len(self.posts)]
        self.send(
            http,
            "notice",
            "POST",
            "/v1/reports",
            json={
                "target": {"kind": "post", "id": post},
                "category": "scams_fraud",
                "explanation": "This post asks for an upfront fee for a prize: a scam.",
                "platform_user_id": self.users[n % len(self.users)],
                "good_faith": True,
            },
            headers=self.platform,
        )

    def decision(self, http: httpx.Client, n: int) -> None:
        claimed = self.send(
            http, "claim", "POST", "/v1/moderation/queue/claim", headers=self.moderator
        )
        if claimed is None or claimed.status_code != 200:
            return
        item = claimed.json()
        with self.lock:
            self.decided += 1
            remove = self.decided % 2 == 0 and item["kind"] == "post"
        # Half the posts decided are removed: their owners appeal.
        action = "remove_content" if remove else "no_violation"
        decided = self.send(
            http,
            "decision",
            "POST",
            "/v1/moderation/decisions",
            json={
                "item_id": item["id"],
                "action": action,
                "category": "scams_fraud",
                "explanation": "Decided during the rescan bench.",
            },
            headers=self.moderator,
        )
        if decided is not None and decided.status_code == 201 and remove:
            with self.lock:
                self.removed.add(item["ref"])
        if decided is not None and decided.status_code == 201 and action != "no_violation":
            with transaction(get_engine(self.url), readonly=True) as session:
                owner = session.execute(
                    sa.select(ModerationItem.owner_user_id).where(ModerationItem.id == item["id"])
                ).scalar_one_or_none()
            with self.lock:
                if owner:
                    self.appealable[item["id"]] = (int(decided.json()["id"]), owner)
        elif decided is not None and decided.status_code == 201:
            with self.lock:
                self.appealable.pop(item["id"], None)

    def appeal(self, http: httpx.Client, n: int) -> None:
        with self.lock:
            if not self.appealable:
                return
            decision_id, owner = self.appealable.pop(next(reversed(self.appealable)))
        self.send(
            http,
            "appeal",
            "POST",
            "/v1/appeals",
            json={
                "decision_id": decision_id,
                "platform_user_id": owner,
                "explanation": "The post was a joke between friends, not a scam.",
            },
            headers=self.platform,
        )

    def order(self, http: httpx.Client, n: int) -> None:
        now = datetime.now(UTC)
        document = b"%PDF-1.4\n% bench order " + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
        claims = {
            "iss": AUTHORITY,
            "iat": int(now.timestamp()) - 5,
            "exp": int((now + timedelta(hours=1)).timestamp()),
            "jti": uuid.uuid4().hex,
            "case_reference": f"BENCH-{n}",
            "legal_basis": "Règlement (UE) 2023/1543, art. 5",
            "offence": {
                "category": "fraud",
                "description": "Escroquerie en bande organisée",
                "max_penalty_years": 10,
                "violates_terms": True,
            },
            "targets": [{"kind": "user_id", "value": self.users[n % len(self.users)]}],
            "data_categories": ["subscriber_data", "identification_data"],
            "period": {
                "start": (now - timedelta(days=60)).isoformat(),
                "end": (now - timedelta(days=30)).isoformat(),
            },
            "document": {"sha256": hashlib.sha256(document).hexdigest()},
        }
        token = jws.sign(claims, private_jwk=self.private_jwk, typ="rempart-order+jwt")
        self.send(
            http,
            "order",
            "POST",
            "/v1/legal/orders",
            data={"jws": token},
            files={"document": ("order.pdf", document, "application/pdf")},
            headers=self.authority,
        )

    def client(self, number: int, rate: float) -> None:
        kinds = [self.notice, self.decision, self.notice, self.appeal, self.order, self.decision]
        gap = 1.0 / rate
        n = number * 100_000
        with httpx.Client(base_url=self.base, timeout=120) as http:
            next_at = time.monotonic()
            while not self.stop.is_set():
                kinds[n % len(kinds)](http, n)
                n += 1
                next_at += gap
                time.sleep(max(0.0, next_at - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second per client")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; SQLite when absent")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--after-first-scan", action="store_true")
    parser.add_argument("--entities", type=int, default=300)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="rempart-rescan-load-"))
    url, pg_name = database(folder, args.postgres)
    port = free_port()
    env = {
        **os.environ,
        "REMPART_DATABASE_URL": url,
        "REMPART_KEY_FILE": str(folder / "keys.json"),
        "REMPART_AUDIT_HEAD_FILE": str(folder / "heads.jsonl"),
        "REMPART_NOTIFICATION_OUTBOX": str(folder / "outbox.jsonl"),
        "REMPART_DEMO": "1",
        "REMPART_CLASSIFIER_SEMANTIC": "0" if args.no_semantic else "1",
        "REMPART_WEB_WORKERS": str(args.web_workers),
        "REMPART_ACCESS_LOG": "0",
        "REMPART_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Every client is 127.0.0.1: the per-network notice limit is not under test.
        "REMPART_REPORT_RATE_LIMIT": "1000000",
    }
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}, {args.posts} posts, semantic stage {'off' if args.no_semantic else 'on'}")
    started = time.monotonic()
    rempart("keys", "init", "--demo", env=env)
    rempart("db", "upgrade", env=env)
    rempart(
        "demo",
        "seed",
        "--posts",
        str(args.posts),
        "--accounts",
        str(args.accounts),
        "--connections",
        str(args.connections),
        "--entities",
        str(args.entities),
        env=env,
    )
    print(f"seeded in {time.monotonic() - started:.0f} s")
    script = str(Path(sys.executable).with_name("rempart"))
    server_log = (folder / "serve.log").open("ab")
    worker_log_path = folder / "worker.log"
    worker_log = worker_log_path.open("ab")
    server = subprocess.Popen(
        [script, "serve", "--port", str(port)],
        env=env,
        stdout=server_log,
        stderr=server_log,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [script, "worker"], env=env, stdout=worker_log, stderr=worker_log, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.5)
        if args.after_first_scan:
            first = time.monotonic()
            while jobs_left(url):
                time.sleep(2)
            print(f"first scan done in {time.monotonic() - first:.0f} s")
        worker_log_path_offset = worker_log_path.stat().st_size
        server_log_offset = (folder / "serve.log").stat().st_size

        load = Load(url, folder, base)
        rempart("moderation", "rescan", env=env)
        rescan_started = time.monotonic()
        threads = [
            threading.Thread(target=load.client, args=(i, args.rate), daemon=True)
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)
        while jobs_left(url) and time.monotonic() - rescan_started < args.max_seconds:
            time.sleep(1)
        rescan_seconds = time.monotonic() - rescan_started
        load.stop.set()
        for thread in threads:
            thread.join(timeout=180)
    finally:
        for process in (server, worker):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (server, worker):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    during = worker_log_path.read_text(errors="replace")[worker_log_path_offset:]
    holds = [int(m.group(1)) for m in WRITE.finditer(during)]
    served = (folder / "serve.log").read_text(errors="replace")[server_log_offset:]
    slow = {
        name: [(int(m.group(1)), m.group(2)) for m in SLOW.finditer(text)]
        for name, text in (("worker", during), ("API", served))
    }
    total = sum(load.statuses.values())
    errors = {k: v for k, v in load.statuses.items() if k[1] == 0 or k[1] >= 400}
    raced = sum(load.raced.values())
    print(f"all jobs (rescan included) done in {rescan_seconds:.0f} s; {total} requests sent")
    print("status by kind:", dict(sorted(load.statuses.items())))
    print(f"errors: {sum(errors.values())}", dict(sorted(errors.items())))
    if raced:
        print(f"refused because a later decision raced them (409 decision_superseded): {raced}")
    if sum(load.gone.values()):
        print(
            "notices refused because their post was no longer public"
            f" (404 target_not_found): {sum(load.gone.values())}"
        )
    for line in load.errors:
        print("  e.g.", line)
    for kind, values in sorted(load.latencies.items()):
        print(
            f"{kind:9s} n={len(values):5d}  p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p95 {percentile(values, 0.95) * 1000:7.1f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:7.1f} ms"
            f"  max {max(values) * 1000:7.1f} ms"
        )
    held = [int(m.group(1)) for m in HELD.finditer(during)]
    if held:
        # SQLite: measured by the write gate, from BEGIN IMMEDIATE to the end of COMMIT.
        print(
            f"longest hold of SQLite's write lock by the worker: {max(held)} ms"
            f" (p99 over {len(held)} jobs {percentile(held, 0.99):.0f} ms)"
        )
    if holds:
        # From before BEGIN: on SQLite this includes waiting for the lock (and giving way).
        print(
            f"worker write transactions during the rescan: {len(holds)},"
            f" longest {max(holds)} ms, p99 {percentile(holds, 0.99):.0f} ms"
            + (" (waits for the lock included)" if held else "")
        )
    for name, found in slow.items():
        # SQLite only: every write transaction that held the write lock past 250 ms.
        if found:
            longest, where = max(found)
            print(
                f"{name} write transactions holding SQLite's lock over 250 ms: {len(found)},"
                f" longest {longest} ms ({where})"
            )
    waits = [(int(m.group(1)), m.group(2)) for m in WAITED.finditer(served)]
    if waits:
        longest, where = max(waits)
        print(
            f"API write transactions waiting over 250 ms for SQLite's lock: {len(waits)},"
            f" longest {longest} ms ({where})"
        )
    if not args.postgres and not any(slow.values()):
        print("no write transaction of the API or the worker held SQLite's lock over 250 ms")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if pg_name and args.postgres:
        get_engine(url).dispose()
        drop(args.postgres, pg_name)


if __name__ == "__main__":
    main()

"""Notices (DSA Art. 16) through HTTP, against the real server and worker processes.

    .venv/bin/python bench/notices_http.py --notices 3000 --clients 8 [--web-workers 2]
        [--batch 100]

Starts `rempart serve` (``--web-workers`` processes) and `rempart worker` on a fresh
SQLite database, publishes one channel with 500 posts through the ingest API, then sends
``--notices`` notices from ``--clients`` concurrent keep-alive clients with a platform's
token, each vouching for a different user: one per request, or ``--batch`` per request to
``/v1/reports/batch``. ``--client raw`` (the default) sends pre-encoded requests on
keep-alive sockets (0.07 ms of CPU per request); ``--client httpx`` is the earlier client
(0.57 ms), whose CPU shares the 2 cores with the server's. Prints notices/s accepted,
latency percentiles per request, every status code seen, the server processes' CPU time
per notice, the clients' own, how long the worker took to file the last notice into its
case (and notices/s filed, from the first sent to the last filed), the worker's CPU per
notice, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.migrate import upgrade
from rempart.reports.models import Report

POSTS = 500
CATEGORIES = ["scams_fraud", "weapons", "drug_sales", "hate_speech"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children that are still running."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def setup(folder: Path) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "REMPART_DATABASE_URL": f"sqlite:///{folder / 'rempart.db'}",
        "REMPART_KEY_FILE": str(folder / "keys.json"),
        "REMPART_AUDIT_HEAD_FILE": str(folder / "heads.jsonl"),
        "REMPART_NOTIFICATION_OUTBOX": str(folder / "outbox.jsonl"),
        "REMPART_CLASSIFIER_SEMANTIC": "0",
    }
    crypto.write_key_file(folder / "keys.json", crypto.KeyRing.generate())
    upgrade(env["REMPART_DATABASE_URL"])
    with transaction(get_engine(env["REMPART_DATABASE_URL"])) as session:
        token = auth.create_token(session, role=Role.PLATFORM, name="bench", actor="bench").token
    return env, token


def publish(http: httpx.Client, headers: dict[str, str]) -> None:
    now = datetime.now(UTC).isoformat()
    events: list[dict[str, Any]] = [
        {
            "id": "bench-channel",
            "type": "entity.published",
            "occurred_at": now,
            "entity_id": "bench-channel",
            "kind": "channel",
            "username": "bench_channel",
            "title": "Bench channel",
            "owner_user_id": "u-owner",
            "member_count": 5000,
        }
    ]
    events += [
        {
            "id": f"bench-post-{i}",
            "type": "post.published",
            "occurred_at": now,
            "post_id": f"bench-post-{i}",
            "entity_id": "bench-channel",
            "text": f"An ordinary public post number {i}",
        }
        for i in range(POSTS)
    ]
    response = http.post("/v1/ingest/events", json={"events": events}, headers=headers)
    response.raise_for_status()


def raw_request(path: str, body: dict[str, Any], token: str) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def read_response(stream: Any) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; its status code."""
    status = int(stream.readline().split()[1])
    length = 0
    while True:
        line = stream.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    stream.read(length)
    return status


def drained(env: dict[str, str], timeout: float = 600) -> float:
    """When no notice is left unfiled (``perf_counter`` time)."""
    engine = get_engine(env["REMPART_DATABASE_URL"])
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with transaction(engine, readonly=True) as session:
            waiting = session.execute(
                select(func.count()).select_from(Report).where(Report.case_id.is_(None))
            ).scalar_one()
        if not waiting:
            break
        time.sleep(0.2)
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notices", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1, help="notices per request")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: pre-encoded HTTP/1.1 on a keep-alive socket; httpx: the earlier client",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-notices-"))
    env, token = setup(folder)
    env["REMPART_WEB_WORKERS"] = str(args.web_workers)
    port = free_port()
    script = str(Path(sys.executable).with_name("rempart"))
    log = (folder / "processes.log").open("ab")
    server = subprocess.Popen(
        [script, "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [script, "worker"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
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
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as http:
            publish(http, headers)
        time.sleep(2)  # both web processes warm
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        lock = threading.Lock()
        per_client = args.notices // args.clients

        def notice(number: int, i: int) -> dict[str, Any]:
            return {
                "target": {"kind": "post", "id": f"bench-post-{(number * 7 + i) % POSTS}"},
                "category": CATEGORIES[i % len(CATEGORIES)],
                "explanation": "This post offers counterfeit goods for sale.",
                "platform_user_id": f"u-{number}-{i}",
                "good_faith": True,
            }

        def requests_of(number: int) -> list[tuple[str, dict[str, Any]]]:
            made: list[tuple[str, dict[str, Any]]] = []
            for first in range(0, per_client, args.batch):
                if args.batch == 1:
                    made.append(("/v1/reports", notice(number, first)))
                else:
                    last = min(first + args.batch, per_client)
                    notices = [notice(number, i) for i in range(first, last)]
                    made.append(("/v1/reports/batch", {"notices": notices}))
            return made

        def client(number: int) -> None:
            if args.client == "raw":
                raw_client(number)
                return
            with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
                for path, body in requests_of(number):
                    started = time.perf_counter()
                    response = http.post(path, json=body)
                    elapsed = time.perf_counter() - started
                    with lock:
                        statuses[response.status_code] += 1
                        latencies.append(elapsed * 1000)

        def raw_client(number: int) -> None:
            # Requests encoded before the clock starts, one keep-alive socket: the 2 cores
            # go to the server, not to building requests (httpx took 0.57 ms of CPU per
            # request, against the server's 1.4 to 1.8).
            encoded = [raw_request(path, body, token) for path, body in requests_of(number)]
            with socket.create_connection(("127.0.0.1", port)) as connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = connection.makefile("rb")
                for request in encoded:
                    started = time.perf_counter()
                    connection.sendall(request)
                    status = read_response(stream)
                    elapsed = time.perf_counter() - started
                    with lock:
                        statuses[status] += 1
                        latencies.append(elapsed * 1000)

        print(f"load average before: {os.getloadavg()[0]:.2f}")
        client_cpu_before = time.process_time()
        cpu_before = cpu_seconds(server.pid)
        worker_cpu_before = cpu_seconds(worker.pid)
        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        client_cpu = time.process_time() - client_cpu_before
        sent = per_client * args.clients
        latencies.sort()
        print(
            f"{sent} notices in {wall:.1f} s through HTTP ({args.web_workers} web processes, "
            f"{args.clients} {args.client} clients, {args.batch} per request, worker running): "
            f"{sent / wall:,.0f} notices/s"
        )
        print(
            f"latency p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms, max {latencies[-1]:.1f} ms"
        )
        print(f"statuses per request: {dict(statuses)}")
        print(f"server CPU per notice: {cpu / sent * 1000:.2f} ms")
        print(f"clients' CPU per notice (this process): {client_cpu / sent * 1000:.2f} ms")
        done = drained(env)
        lag = done - wall - started
        worker_cpu = cpu_seconds(worker.pid) - worker_cpu_before
        print(
            f"the worker filed the last notice {lag:.1f} s later: "
            f"{sent / (done - started):,.0f} notices/s filed from the first sent to the last filed"
        )
        print(f"worker CPU per notice filed: {worker_cpu / sent * 1000:.2f} ms")
        print(f"load average: {os.getloadavg()[0]:.2f}")
    finally:
        for process in (server, worker):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (server, worker):
            process.wait(timeout=60)


if __name__ == "__main__":
    main()

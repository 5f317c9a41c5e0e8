"""Ingest throughput through HTTP, on SQLite and (when reachable) PostgreSQL.

Starts `rempart serve` on loopback against a fresh database, posts batches of 1,000 events
of a realistic mix (connections, account changes, text posts) and prints events/s.

    python bench/ingest.py [--batches 60] [--batch-size 1000] [--clients 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "REMPART_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NPAS = ["201", "212", "312", "415", "617", "713", "206", "303", "404", "503"]
WORDS_EN = (
    "great match tonight who is watching the final new recipe for the weekend city council meets"
).split(" ")
WORDS_FR = (
    "super match ce soir qui regarde la finale nouvelle recette pour le week-end conseil municipal"
).split(" ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_batches(count: int, size: int, run: str) -> list[bytes]:
    """80 % connections, 10 % account events, 10 % text posts."""
    start = datetime(2026, 6, 1, tzinfo=UTC)
    bodies = []
    serial = 0
    for b in range(count):
        events = []
        for i in range(size):
            serial += 1
            user = f"u{serial % 5000}"
            when = (start + timedelta(seconds=serial)).isoformat()
            event_id = f"{run}:{b}:{i}"
            kind = i % 10
            if kind == 0:
                phone = f"+1{NPAS[serial % len(NPAS)]}5550{100 + serial % 100}"
                events.append(
                    {
                        "id": event_id,
                        "type": "account.updated",
                        "occurred_at": when,
                        "user_id": user,
                        "username": f"user_{serial}",
                        "phone_number": phone,
                        "synthetic": True,
                    }
                )
            elif kind == 1:
                words = WORDS_FR if serial % 2 else WORDS_EN
                text = " ".join(words[(serial + k) % len(words)] for k in range(24))
                events.append(
                    {
                        "id": event_id,
                        "type": "post.published",
                        "occurred_at": when,
                        "post_id": f"p{serial}",
                        "entity_id": f"c{serial % 300}",
                        "text": text,
                        "language": "fr" if serial % 2 else "en",
                    }
                )
            else:
                ip = (
                    f"198.51.100.{serial % 250 + 1}"
                    if serial % 5
                    else f"2001:db8:{serial % 65535:x}::{serial % 9999:x}"
                )
                events.append(
                    {
                        "id": event_id,
                        "type": "connection.seen",
                        "occurred_at": when,
                        "user_id": user,
                        "ip": ip,
                        "port": 1024 + serial % 60000,
                        "user_agent": "ExampleApp/10.2 (Android 14)",
                    }
                )
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def run_backend(name: str, database_url: str, args: argparse.Namespace, workdir: Path) -> None:
    env = {
        **os.environ,
        "REMPART_DATABASE_URL": database_url,
        "REMPART_KEY_FILE": str(workdir / "keys.json"),
        "REMPART_AUDIT_HEAD_FILE": str(workdir / "heads.jsonl"),
        "REMPART_DEMO": "0",
    }
    rempart = str(Path(sys.executable).with_name("rempart"))
    subprocess.run([rempart, "keys", "init", "--force"], env=env, check=True, capture_output=True)
    subprocess.run([rempart, "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [rempart, "token", "create", "--role", "platform", "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [rempart, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = make_batches(args.batches, args.batch_size, uuid.uuid4().hex[:6])
        with httpx.Client(base_url=base, headers=headers, timeout=60) as warm:
            warm.post("/v1/ingest/events", content=make_batches(1, args.batch_size, "warm")[0])
        shares = [bodies[i :: args.clients] for i in range(args.clients)]
        errors: list[int] = []
        stored: list[int] = []

        def worker(mine: list[bytes]) -> None:
            # A fresh connection per batch, so the kernel spreads batches over the server's
            # worker processes instead of pinning each client to one.
            fresh = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=base, headers=headers, timeout=60, limits=fresh) as client:
                for body in mine:
                    response = client.post("/v1/ingest/events", content=body)
                    if response.status_code != 200:
                        errors.append(response.status_code)
                    else:
                        stored.append(response.json()["stored"])

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        total = args.batches * args.batch_size
        print(
            f"{name:<11} {total:>7} events in {elapsed:6.2f} s = {total / elapsed:>8,.0f} events/s "
            f"(batches of {args.batch_size}, {args.clients} client(s), errors: {len(errors)}, "
            f"stored: {sum(stored)})"
        )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_backend("sqlite", f"sqlite:///{workdir / 'bench.db'}", args, workdir)
        name = f"rempart_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(
            POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError:
            print("postgresql  skipped: no server at", POSTGRES_URL)
            return
        try:
            run_backend("postgresql", POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", args, workdir)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

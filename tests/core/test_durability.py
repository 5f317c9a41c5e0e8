"""A server or worker killed with SIGKILL in the middle of a batch loses nothing it had
acknowledged, and redelivery stores what it had not acknowledged exactly once.

Real processes (`rempart serve`, `rempart worker`) on 127.0.0.1, killed for real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from images import random_png
from process_support import free_port, healthy, running, wait_until
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job
from rempart.platform.models import Account, Connection, IngestedEvent, PendingImage, PostMedia
from rempart.platform.service import MEDIA_HASH_JOB

pytestmark = pytest.mark.slow

BATCH_SIZE = 200
ACCOUNTS_PER_BATCH = 50


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with transaction(rt.engine, readonly=True) as session:
        return int(
            session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        )


def audit_details(rt: Runtime, action: str) -> list[dict[str, Any]]:
    with transaction(rt.engine, readonly=True) as session:
        bodies = session.execute(
            select(AuditEntry.body).where(AuditEntry.action == action)
        ).scalars()
        return [json.loads(body)["details"] for body in bodies]


# -- the server --------------------------------------------------------------------------


@dataclass
class Batch:
    number: int
    body: bytes
    connection_ids: list[str]
    account_ids: list[str]

    @property
    def ids(self) -> list[str]:
        return self.connection_ids + self.account_ids


def make_batch(number: int) -> Batch:
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    connections, accounts = [], []
    for i in range(BATCH_SIZE - ACCOUNTS_PER_BATCH):
        event_id = f"b{number}-c{i}"
        connections.append(event_id)
        events.append(
            {
                "id": event_id,
                "type": "connection.seen",
                "occurred_at": (now - timedelta(seconds=i)).isoformat(),
                # One user per event: each stored row names the event that made it.
                "user_id": event_id,
                "ip": f"198.51.{number % 256}.{i % 256}",
                "port": 1024 + i,
            }
        )
    for i in range(ACCOUNTS_PER_BATCH):
        event_id = f"b{number}-a{i}"
        accounts.append(event_id)
        events.append(
            {
                "id": event_id,
                "type": "account.registered",
                "occurred_at": now.isoformat(),
                "user_id": event_id,
                "phone_number": "+33612345678",
            }
        )
    random.Random(number).shuffle(events)
    return Batch(number, json.dumps({"events": events}).encode(), connections, accounts)


@dataclass
class Feeder:
    """Posts batches one after the other until the server stops answering."""

    port: int
    token: str
    acknowledged: list[Batch] = field(default_factory=list)
    unacknowledged: list[Batch] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    in_flight: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as http:
            number = 0
            while True:
                batch = make_batch(number)
                number += 1
                self.in_flight.set()
                try:
                    response = http.post("/v1/ingest/events", content=batch.body, headers=headers)
                except httpx.TransportError:
                    self.unacknowledged.append(batch)
                    # Two more the server never saw, as a platform's outbox would hold.
                    self.unacknowledged += [make_batch(number), make_batch(number + 1)]
                    return
                finally:
                    self.in_flight.clear()
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.acknowledged.append(batch)
                else:
                    self.unacknowledged.append(batch)


def stored_ids(rt: Runtime) -> set[str]:
    with transaction(rt.engine, readonly=True) as session:
        return set(session.execute(select(IngestedEvent.event_id)).scalars())


def user_ids(rt: Runtime, model: Any) -> list[str]:
    with transaction(rt.engine, readonly=True) as session:
        return list(session.execute(select(model.user_id)).scalars())


def test_killed_server_loses_nothing_it_acknowledged(
    runtime: Runtime,
    env: dict[str, str],
    tmp_path: Path,
    make_token: Callable[[Role], str],
    cli: Callable[..., Any],
) -> None:
    token = make_token(Role.PLATFORM)
    port = free_port()
    feeder = Feeder(port, token)
    serve = ["serve", "--host", "127.0.0.1"]

    with running([*serve, "--port", str(port)], env, tmp_path, "server-1") as server:
        wait_until(healthy(port), timeout=30, what="server start", process=server)
        thread = threading.Thread(target=feeder.run, daemon=True)
        thread.start()
        wait_until(
            lambda: len(feeder.acknowledged) >= 4 or not thread.is_alive(),
            timeout=60,
            what="first acknowledged batches",
            process=server,
        )
        # Kill while a batch is on its way or being stored, not between two batches.
        assert feeder.in_flight.wait(timeout=10)
        time.sleep(random.uniform(0.0, 0.02))
        server.kill()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the client hung after the kill"
    assert feeder.error is None, feeder.error
    assert set(feeder.statuses) == {200}, "the server answered something else than 200"
    assert feeder.unacknowledged, "the kill did not interrupt the stream"

    stored = stored_ids(runtime)
    for batch in feeder.acknowledged:
        assert set(batch.ids) <= stored, f"batch {batch.number} was acknowledged, then lost"
    acked_connections = {i for b in feeder.acknowledged for i in b.connection_ids}
    acked_accounts = {i for b in feeder.acknowledged for i in b.account_ids}
    assert acked_connections <= set(user_ids(runtime, Connection))
    assert acked_accounts <= set(user_ids(runtime, Account))
    # A batch is stored whole or not at all, even when the process dies inside it.
    for batch in feeder.unacknowledged:
        assert len(set(batch.ids) & stored) in (0, BATCH_SIZE), f"batch {batch.number} is torn"

    port = free_port()
    with running([*serve, "--port", str(port)], env, tmp_path, "server-2") as server:
        wait_until(healthy(port), timeout=30, what="server restart", process=server)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            # The platform redelivers what it has no answer for, and one batch twice.
            for batch in [*feeder.unacknowledged, feeder.acknowledged[-1]]:
                response = http.post("/v1/ingest/events", content=batch.body, headers=headers)
                assert response.status_code == 200, response.text
                result = response.json()
                assert result["stored"] + result["duplicates"] == BATCH_SIZE
            again = http.post(
                "/v1/ingest/events", content=feeder.unacknowledged[0].body, headers=headers
            )
            assert again.json()["stored"] == 0
        server.popen.send_signal(signal.SIGTERM)
        server.popen.wait(timeout=20)

    everything = [*feeder.acknowledged, *feeder.unacknowledged]
    all_ids = {i for b in everything for i in b.ids}
    assert stored_ids(runtime) == all_ids
    connections = user_ids(runtime, Connection)
    accounts = user_ids(runtime, Account)
    # Exactly once: one row per event, none twice.
    assert (
        len(connections)
        == len(set(connections))
        == len(everything) * (BATCH_SIZE - ACCOUNTS_PER_BATCH)
    )
    assert set(connections) == {i for b in everything for i in b.connection_ids}
    assert len(accounts) == len(set(accounts)) == len(everything) * ACCOUNTS_PER_BATCH
    stored_counts = sum(d["stored"] for d in audit_details(runtime, "platform.ingest"))
    assert stored_counts == len(all_ids)
    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.stdout + verify.stderr


# -- the worker --------------------------------------------------------------------------

JOBS = 10
IMAGES_PER_JOB = 10


def image(seed: int, size: int = 448) -> bytes:
    return random_png(seed, size)


def queue_media_jobs(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, int], bytes]:
    """One ingest batch per job; returns the bytes of each (post, position)."""
    expected: dict[tuple[str, int], bytes] = {}
    now = datetime.now(UTC).isoformat()
    for job in range(JOBS):
        events = []
        for post in range(2):
            post_id = f"post-{job}-{post}"
            images = [image(job * 100 + post * 10 + i) for i in range(IMAGES_PER_JOB // 2)]
            expected.update({(post_id, i): content for i, content in enumerate(images)})
            events.append(
                {
                    "id": f"ev-{post_id}",
                    "type": "post.published",
                    "occurred_at": now,
                    "post_id": post_id,
                    "entity_id": "channel-1",
                    "media": [{"image_base64": base64.b64encode(c).decode()} for c in images],
                }
            )
        response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
        assert response.status_code == 200, response.text
    return expected


def job_states(rt: Runtime) -> dict[int, tuple[str, int]]:
    """The media-hashing jobs (ingest also queues moderation scans, not counted here)."""
    with transaction(rt.engine, readonly=True) as session:
        rows = session.execute(
            select(Job.id, Job.status, Job.attempts).where(Job.kind == MEDIA_HASH_JOB)
        ).all()
    return {job_id: (status, attempts) for job_id, status, attempts in rows}


def test_killed_worker_loses_nothing_and_hashes_each_image_once(
    runtime: Runtime,
    env: dict[str, str],
    tmp_path: Path,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    expected = queue_media_jobs(client, platform_headers)
    assert len(job_states(runtime)) == JOBS
    worker_env = {
        **env,
        # A killed worker's job is free again after a second, not five minutes.
        "REMPART_JOB_LEASE_SECONDS": "1",
        "REMPART_WORKER_POLL_SECONDS": "0.05",
        "REMPART_AUDIT_HEAD_INTERVAL_SECONDS": "0.2",
    }

    interrupted: set[int] = set()
    for attempt in range(3):  # the kill may, rarely, fall between two jobs: try again
        with running(["worker"], worker_env, tmp_path, f"worker-{attempt}") as worker:

            def mid_job() -> bool:
                states = job_states(runtime).values()
                done = sum(status == "done" for status, _ in states)
                return done >= 2 and any(status == "running" for status, _ in states)

            wait_until(mid_job, timeout=60, what="worker at work", process=worker)
            worker.kill()
        interrupted = {i for i, (status, _) in job_states(runtime).items() if status == "running"}
        if interrupted:
            break
    assert interrupted, "the worker was never killed in the middle of a job"
    assert count(runtime, PendingImage) > 0

    with running(["worker"], worker_env, tmp_path, "worker-final") as worker:
        wait_until(
            lambda: all(s != "running" and s != "queued" for s, _ in job_states(runtime).values()),
            timeout=60,
            what="all jobs finished",
            process=worker,
        )
        worker.popen.send_signal(signal.SIGTERM)
        assert worker.popen.wait(timeout=20) == 0, worker.output()

    states = job_states(runtime)
    assert {status for status, _ in states.values()} == {"done"}
    for job_id in interrupted:
        assert states[job_id][1] == 2, "the interrupted job was not run again"
    assert count(runtime, PendingImage) == 0
    with transaction(runtime.engine, readonly=True) as session:
        media = list(session.execute(select(PostMedia)).scalars())
    assert len(media) == len(expected) == JOBS * IMAGES_PER_JOB
    for row in media:
        content = expected[(row.post_id, row.position)]
        assert row.status == "hashed"
        assert row.sha256 == hashlib.sha256(content).hexdigest()
        assert row.md5 == hashlib.md5(content).hexdigest()
        assert row.pdq is not None
        assert len(row.pdq) == 64
    # Exactly once: a job killed before it committed left no trace, and each job committed
    # its hashes a single time.
    hashed = audit_details(runtime, "platform.media.hash")
    assert len(hashed) == JOBS
    assert sum(d["hashed"] for d in hashed) == len(expected)
    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert "0 signed heads" not in verify.stdout

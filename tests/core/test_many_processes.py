"""Several API processes and several workers on one PostgreSQL database, as on several
machines: two `rempart serve` and two `rempart worker` processes share the database while a
rescan runs and a mixed load (ingest batches, notices, moderators' decisions, order
submissions) goes through both servers. No job runs twice, nothing accepted is lost, and
the audit log verifies.

Runs only when REMPART_TEST_POSTGRES_URL is set (SQLite has one writer: the many-process
case is PostgreSQL's).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from legal_support import claims, legal_world, sign, submit
from process_support import Process, free_port, healthy, rempart_command, running, wait_until
from rempart.auth.permissions import Role
from rempart.core.db import is_sqlite, transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job
from rempart.legal.models import Order
from rempart.moderation.models import ModerationDecision
from rempart.platform.models import IngestedEvent
from rempart.reports.models import Report

pytestmark = pytest.mark.slow

POSTS = 150
LOAD_BATCHES = 4
LOAD_BATCH_POSTS = 25
FIRST_NOTICES = 12
LOAD_NOTICES = 16
DECISIONS = 8
ORDERS = 4
JOB_DONE = re.compile(r"job (\d+) \(([a-z._]+)\) done")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def posts(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i}",
            "type": "post.published",
            "occurred_at": now_iso(),
            "post_id": f"{prefix}-{i}",
            "entity_id": "mp-channel",
            "text": f"Weekly market notes number {i}: prices, opening hours and new stalls",
        }
        for i in range(count)
    ]


def notice(post_id: str, user: str) -> dict[str, Any]:
    return {
        "target": {"kind": "post", "id": post_id},
        "category": "scams_fraud",
        "explanation": "This post asks for an upfront fee for a prize: a scam.",
        "platform_user_id": user,
        "good_faith": True,
    }


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with transaction(rt.engine, readonly=True) as session:
        return int(
            session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        )


def jobs_left(rt: Runtime) -> int:
    return count(rt, Job, Job.status.in_(("queued", "running")))


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, procs: list[Process]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in procs:
            if process.popen.poll() is not None:
                pytest.fail(f"{what}: a process exited\n{process.output()}")
        time.sleep(0.2)
    logs = "\n---\n".join(process.output()[-1500:] for process in procs)
    pytest.fail(f"{what}: timed out after {timeout} s\n{logs}")


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if is_sqlite(database_url) or "REMPART_TEST_POSTGRES_URL" not in os.environ:
        pytest.skip("several processes on one database: PostgreSQL, when configured")


def test_two_servers_and_two_workers_share_one_postgresql_during_a_rescan(
    postgres_only: None,
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    world = legal_world(client, make_token, platform_headers)
    corpus = [
        {
            "id": "mp-channel",
            "type": "entity.published",
            "occurred_at": now_iso(),
            "entity_id": "mp-channel",
            "kind": "channel",
            "username": "market_notes",
            "title": "Market notes",
            "owner_user_id": "u-market",
            "member_count": 4000,
        },
        *posts("mp-post", POSTS),
    ]
    sent = client.post("/v1/ingest/events", json={"events": corpus}, headers=platform_headers)
    assert sent.status_code == 200, sent.text
    moderators = [{"Authorization": f"Bearer {make_token(Role.MODERATOR)}"} for _ in range(2)]

    process_env = {
        **env,
        "REMPART_WEB_WORKERS": "1",
        "REMPART_ACCESS_LOG": "0",
        "REMPART_WORKER_POLL_SECONDS": "0.2",
        # Every request comes from 127.0.0.1: the per-network limits are not under test.
        "REMPART_REPORT_RATE_LIMIT": "1000000",
        "REMPART_PUBLIC_READS_PER_MINUTE": "1000000",
    }
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running(["serve", "--port", str(port)], process_env, tmp_path, f"serve-{port}")
            )
            for port in ports
        ]
        workers = [
            stack.enter_context(running(["worker"], process_env, tmp_path, f"worker-{n}"))
            for n in (1, 2)
        ]
        everyone = servers + workers
        for port, server in zip(ports, servers, strict=True):
            wait_until(healthy(port), timeout=120, what="server start", process=server)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        http = [stack.enter_context(httpx.Client(base_url=b, timeout=60)) for b in bases]

        # Notices that moderators will decide while the rescan runs.
        for i in range(FIRST_NOTICES):
            response = http[i % 2].post(
                "/v1/reports",
                json=notice(f"mp-post-{i}", f"u-early-{i}"),
                headers=platform_headers,
            )
            assert response.status_code == 202, response.text
        wait_for(
            lambda: (
                count(runtime, Report, Report.case_id.is_(None)) == 0 and jobs_left(runtime) == 0
            ),
            timeout=90,
            what="first notices filed and first scans done",
            procs=everyone,
        )

        rescan = subprocess.run(
            [*rempart_command(), "moderation", "rescan"],
            env={**os.environ, **process_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rescan.returncode == 0, rescan.stderr

        statuses: Counter[tuple[str, int]] = Counter()
        accepted: dict[str, list[Any]] = {"event": [], "notice": [], "decision": [], "order": []}
        lock = threading.Lock()

        def record(kind: str, response: httpx.Response, ok: int, key: Any) -> None:
            with lock:
                statuses[(kind, response.status_code)] += 1
                if response.status_code == ok:
                    accepted[kind].append(key(response))

        def ingest(n: int) -> None:
            events = posts(f"mp-load-{n}", LOAD_BATCH_POSTS)
            response = http[n % 2].post(
                "/v1/ingest/events", json={"events": events}, headers=platform_headers
            )
            with lock:
                statuses[("ingest", response.status_code)] += 1
                if response.status_code == 200:
                    accepted["event"].extend(e["id"] for e in events)

        def report(n: int) -> None:
            response = http[n % 2].post(
                "/v1/reports",
                json=notice(f"mp-post-{100 + n}", f"u-load-{n}"),
                headers=platform_headers,
            )
            record("notice", response, 202, lambda r: r.json()["tracking_id"])

        def decide(n: int) -> None:
            staff = moderators[n % 2]
            # The queue may be empty for a moment while the rescan refills it.
            for _ in range(120):
                claimed = http[n % 2].post("/v1/moderation/queue/claim", headers=staff)
                if claimed.status_code != 204:
                    break
                time.sleep(0.5)
            with lock:
                statuses[("claim", claimed.status_code)] += 1
            if claimed.status_code != 200:
                return
            response = http[(n + 1) % 2].post(
                "/v1/moderation/decisions",
                json={
                    "item_id": claimed.json()["id"],
                    "action": "no_violation",
                    "category": "scams_fraud",
                    "explanation": "A market post; no scam.",
                },
                headers=staff,
            )
            record("decision", response, 201, lambda r: r.json()["id"])

        def order(n: int) -> None:
            response = submit(http[n % 2], world.court, sign(world.court, claims(world.court)))  # type: ignore[arg-type]
            record("order", response, 201, lambda r: r.json()["reference"])

        work: list[Callable[[], None]] = []
        for n in range(max(LOAD_BATCHES, LOAD_NOTICES, DECISIONS, ORDERS)):
            if n < LOAD_BATCHES:
                work.append(lambda n=n: ingest(n))  # type: ignore[misc]
            if n < LOAD_NOTICES:
                work.append(lambda n=n: report(n))  # type: ignore[misc]
            if n < DECISIONS:
                work.append(lambda n=n: decide(n))  # type: ignore[misc]
            if n < ORDERS:
                work.append(lambda n=n: order(n))  # type: ignore[misc]
        with ThreadPoolExecutor(max_workers=6) as pool:
            for future in [pool.submit(task) for task in work]:
                future.result()

        wait_for(
            lambda: (
                count(runtime, Report, Report.case_id.is_(None)) == 0 and jobs_left(runtime) == 0
            ),
            timeout=120,
            what="the rescan and the load's jobs done",
            procs=everyone,
        )
        for process in everyone:
            process.popen.send_signal(signal.SIGTERM)
        for process in everyone:
            process.popen.wait(timeout=60)
        worker_logs = [worker.log.read_text(errors="replace") for worker in workers]

    # Every request was served: no error of any kind, on either server.
    assert {key: n for key, n in statuses.items() if key[1] >= 300} == {}, statuses
    assert statuses[("claim", 200)] == DECISIONS
    # Nothing accepted was lost.
    assert len(accepted["event"]) == LOAD_BATCHES * LOAD_BATCH_POSTS
    assert count(runtime, IngestedEvent, IngestedEvent.event_id.in_(accepted["event"])) == len(
        accepted["event"]
    )
    assert count(runtime, Report, Report.tracking_id.in_(accepted["notice"])) == LOAD_NOTICES
    assert (
        count(runtime, ModerationDecision, ModerationDecision.id.in_(accepted["decision"]))
        == DECISIONS
    )
    assert count(runtime, Order, Order.reference.in_(accepted["order"])) == ORDERS
    # No job ran twice: each was claimed once, and finished once, by one of the workers.
    with transaction(runtime.engine, readonly=True) as session:
        jobs = session.execute(select(Job.id, Job.kind, Job.status, Job.attempts)).all()
    kinds = Counter(kind for _id, kind, _status, _attempts in jobs)
    assert kinds["moderation.rescan"] >= 2, kinds
    assert [j for j in jobs if (j.status, j.attempts) != ("done", 1)] == []
    runs = [Counter(int(m.group(1)) for m in JOB_DONE.finditer(log)) for log in worker_logs]
    total = runs[0] + runs[1]
    assert sorted(total) == sorted(j.id for j in jobs)
    assert max(total.values()) == 1
    assert all(runs), "both workers took jobs"
    # The audit log verifies end to end.
    verified = subprocess.run(
        [*rempart_command(), "audit", "verify"],
        env={**os.environ, **process_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

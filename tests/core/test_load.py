"""Under load, a request waits for another process or gets a clear 503, never a 500:
the worker runs its classifier with no write transaction open, and a database that stays
busy is answered ``database_busy`` with Retry-After."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from process_support import write_lock_held
from rempart.app import create_app
from rempart.core import jobs
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.worker import Worker


class SlowModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible safety model that takes its time and, while it thinks, checks
    whether the caller left the database locked."""

    database_url = ""
    seen_locked: list[bool] = []  # noqa: RUF012 - shared on purpose: the test reads it
    delay = 0.5
    # Held by the test around each API write, so the probe sees only the worker's locks.
    quiet = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if SlowModel.quiet.acquire(timeout=20):
            try:
                SlowModel.seen_locked.append(write_lock_held(SlowModel.database_url))
            finally:
                SlowModel.quiet.release()
        else:
            # An API write has waited this long: the caller holds the write lock.
            SlowModel.seen_locked.append(True)
        time.sleep(SlowModel.delay)
        content = json.dumps({"category": "weapons", "confidence": 0.7})
        payload = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_model(database_url: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SlowModel.database_url, SlowModel.seen_locked = database_url, []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def post_event(post_id: str, text: str) -> dict[str, Any]:
    return {
        "id": f"ev-{post_id}",
        "type": "post.published",
        "occurred_at": datetime.now(UTC).isoformat(),
        "post_id": post_id,
        "entity_id": "channel-load",
        "text": text,
    }


def test_the_scan_asks_its_model_with_no_write_lock_and_api_writes_go_on(
    settings: Settings,
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    slow_model: str,
) -> None:
    # Short words the first stage is unsure of go on to the remote model.
    channel = {
        "id": "ev-channel-load",
        "type": "entity.published",
        "occurred_at": datetime.now(UTC).isoformat(),
        "entity_id": "channel-load",
        "kind": "channel",
        "username": "load_channel",
        "title": "Load channel",
        "owner_user_id": "u-load",
        "member_count": 10,
    }
    events = [channel, *(post_event(f"p{i}", f"Glock {i}") for i in range(4))]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text

    rt = Runtime(
        settings=settings.model_copy(
            update={
                "classifier_remote_url": slow_model,
                "classifier_remote_timeout_seconds": 60,
            }
        ),
        engine=runtime.engine,
        keys=runtime.keys,
    )
    worker = Worker(rt)
    # The scan jobs of those posts; the writes below queue more, which are left alone.
    claimed = []
    while (job := jobs.claim(rt.engine)) is not None:
        claimed.append(job)
    assert claimed
    done = threading.Event()

    def work() -> None:
        try:
            for job in claimed:
                worker.run_job(job)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    statuses: list[int] = []
    index = 0
    # API writes go on for as long as the scan runs.
    while not done.is_set() or index < 3:
        event = post_event(f"w{index}", f"an ordinary public post {index}")
        with SlowModel.quiet:
            reply = client.post(
                "/v1/ingest/events", json={"events": [event]}, headers=platform_headers
            )
        statuses.append(reply.status_code)
        index += 1
    thread.join()

    assert SlowModel.seen_locked, "the remote model was never asked"
    assert not any(SlowModel.seen_locked), "a write transaction was open during inference"
    assert statuses
    assert all(status == 200 for status in statuses), statuses
    with runtime.engine.connect() as connection:
        scanned = connection.execute(
            sa.text(
                "SELECT count(*) FROM moderation_items WHERE kind = 'post' AND ref LIKE 'p%' "
                "AND model_version LIKE '%remote%'"
            )
        ).scalar_one()
    assert scanned == 4


def test_a_database_that_stays_busy_is_a_503_with_retry_after(
    settings: Settings, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    impatient = settings.model_copy(update={"database_lock_timeout_seconds": 0.2})
    event = post_event("busy-1", "a public post")
    with TestClient(create_app(impatient), raise_server_exceptions=False) as client:
        holder = runtime.engine.connect()
        try:
            # Another process holds the write lock (SQLite) or the audit tail row
            # (PostgreSQL), which every write needs, for longer than the request waits.
            transaction = holder.begin()
            holder.execute(sa.text("UPDATE audit_tail SET size = size WHERE id = 1"))
            busy = client.post(
                "/v1/ingest/events", json={"events": [event]}, headers=platform_headers
            )
            transaction.rollback()
        finally:
            holder.close()
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "database_busy"
        assert busy.headers["Retry-After"].isdigit()
        again = client.post("/v1/ingest/events", json={"events": [event]}, headers=platform_headers)
        assert again.status_code == 200, again.text

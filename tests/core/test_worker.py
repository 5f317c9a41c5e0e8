"""The worker, run in-process one ``tick`` at a time: media hashing, the job queue's retries
and leases, tree-head signing and the daily retention schedule."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from factories import ingest
from images import random_png
from legal_support import MovableClock
from rempart import worker as worker_module
from rempart.audit import service as audit
from rempart.audit.models import AuditEntry, AuditHead
from rempart.core import jobs
from rempart.core.clock import now_of
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job, ScheduleState
from rempart.platform.models import Connection, PendingImage, PostMedia
from rempart.worker import Worker

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdq"
BRIDGE = FIXTURES / "bridge-1-original.jpg"
# facebook/ThreatExchange, PDQHasherTest.java: the reference implementation's hash.
BRIDGE_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@pytest.fixture
def fake_clock(service_clock: MovableClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The runtime's clock, held still and moved by the test."""
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(service_clock, "now", fake.now)
    return fake


def png(seed: int, size: int = 64) -> bytes:
    return random_png(seed, size)


def broken_png() -> bytes:
    """A PNG whose first IDAT claims fewer bytes than it holds: Pillow opens it, then raises
    SyntaxError ("broken PNG file") while decoding."""
    data = bytearray(png(7, size=96))
    at = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    data[at - 4 : at] = struct.pack(">I", length - 50)
    return bytes(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post_event(post_id: str, images: list[bytes], *, at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": f"ev-{post_id}",
        "type": "post.published",
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "post_id": post_id,
        "entity_id": "channel-1",
        "text": "a public post",
        "media": [{"image_base64": b64(image)} for image in images],
    }


def media_of(rt: Runtime, post_id: str) -> list[PostMedia]:
    with transaction(rt.engine, readonly=True) as session:
        return list(
            session.execute(
                select(PostMedia).where(PostMedia.post_id == post_id).order_by(PostMedia.position)
            ).scalars()
        )


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with transaction(rt.engine, readonly=True) as session:
        return int(
            session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        )


def all_jobs(rt: Runtime) -> list[Job]:
    """Jobs other than moderation scans, which ingest and media hashing also queue."""
    with transaction(rt.engine, readonly=True) as session:
        return list(
            session.execute(
                select(Job).where(Job.kind.not_like("moderation.%")).order_by(Job.id)
            ).scalars()
        )


def audit_details(rt: Runtime, action: str) -> list[dict[str, Any]]:
    with transaction(rt.engine, readonly=True) as session:
        bodies = session.execute(
            select(AuditEntry.body).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        ).scalars()
        return [json.loads(body)["details"] for body in bodies]


def with_settings(rt: Runtime, **changes: Any) -> Runtime:
    return replace(rt, settings=rt.settings.model_copy(update=changes))


# -- media hashing --------------------------------------------------------------------


def test_worker_hashes_inline_images(
    runtime: Runtime, client: TestClient, platform_headers: dict[str, str]
) -> None:
    bridge, small = BRIDGE.read_bytes(), png(1)
    ingest(client, platform_headers, [post_event("post-1", [bridge, small])])
    before = media_of(runtime, "post-1")
    assert [m.status for m in before] == ["pending", "pending"]
    assert count(runtime, PendingImage) == 2

    assert Worker(runtime).tick() is True

    first, second = media_of(runtime, "post-1")
    assert first.status == "hashed"
    assert first.sha256 == hashlib.sha256(bridge).hexdigest()
    assert first.md5 == hashlib.md5(bridge).hexdigest()
    assert first.pdq == BRIDGE_PDQ
    assert first.pdq_quality is not None
    assert first.pdq_quality >= 50
    assert second.status == "hashed"
    assert second.sha256 == hashlib.sha256(small).hexdigest()
    assert second.md5 == hashlib.md5(small).hexdigest()
    assert second.pdq is not None
    assert len(second.pdq) == 64
    assert second.pdq != BRIDGE_PDQ
    # The image bytes are gone once hashed.
    assert count(runtime, PendingImage) == 0
    [job] = all_jobs(runtime)
    assert (job.status, job.attempts, job.locked_until) == ("done", 1, None)
    assert job.finished_at is not None
    assert audit_details(runtime, "platform.media.hash") == [{"hashed": 2}]
    # Nothing left to do: a second round runs no job and changes nothing.
    assert Worker(runtime).tick() is False
    assert audit_details(runtime, "platform.media.hash") == [{"hashed": 2}]


def test_bytes_that_are_not_an_image_fail_without_crashing(
    runtime: Runtime, client: TestClient, platform_headers: dict[str, str]
) -> None:
    garbage = [
        b"%PDF-1.4 this is not an image at all",
        broken_png(),
        BRIDGE.read_bytes()[:600],  # a JPEG cut short in its headers
    ]
    ingest(client, platform_headers, [post_event("post-bad", garbage)])

    Worker(runtime).tick()

    media = media_of(runtime, "post-bad")
    assert [m.status for m in media] == ["failed", "failed", "failed"]
    for row, content in zip(media, garbage, strict=True):
        # Exact hashes still let the bytes be matched against hash banks.
        assert row.sha256 == hashlib.sha256(content).hexdigest()
        assert row.md5 == hashlib.md5(content).hexdigest()
        assert row.pdq is None
        assert row.pdq_quality is None
    assert count(runtime, PendingImage) == 0
    [job] = all_jobs(runtime)
    assert (job.status, job.attempts, job.last_error) == ("done", 1, None)


# -- the job queue ----------------------------------------------------------------------


def enqueue(rt: Runtime, kind: str, payload: dict[str, Any] | None = None) -> int:
    with transaction(rt.engine) as session:
        jobs.enqueue(session, kind=kind, payload=payload or {})
    return all_jobs(rt)[-1].id


def job(rt: Runtime, job_id: int) -> Job:
    with transaction(rt.engine, readonly=True) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def test_failing_job_is_retried_with_backoff_then_fails(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def boom(_session: Any, _rt: Runtime, payload: dict[str, Any]) -> None:
        calls.append(payload)
        raise RuntimeError("the bank is unreachable")

    monkeypatch.setitem(worker_module.HANDLERS, "test.boom", boom)
    job_id = enqueue(runtime, "test.boom", {"n": 1})
    worker = Worker(runtime)
    max_attempts = runtime.settings.job_max_attempts
    assert max_attempts == jobs.MAX_ATTEMPTS == 6

    delays = []
    for attempt in range(1, max_attempts):
        worker.tick()
        state = job(runtime, job_id)
        assert (state.status, state.attempts) == ("queued", attempt)
        assert state.last_error == "RuntimeError: the bank is unreachable"
        delay = state.run_after - fake_clock.now()
        delays.append(delay)
        # Not before the backoff has passed…
        fake_clock.advance(delay - timedelta(seconds=1))
        worker.tick()
        assert job(runtime, job_id).attempts == attempt
        fake_clock.advance(timedelta(seconds=1))
    assert delays == [timedelta(seconds=2**n) for n in range(1, max_attempts)]

    worker.tick()
    state = job(runtime, job_id)
    assert (state.status, state.attempts) == ("failed", max_attempts)
    assert state.finished_at is not None
    assert state.locked_until is None
    # A failed job stays failed.
    fake_clock.advance(timedelta(days=2))
    worker.tick()
    assert job(runtime, job_id).attempts == max_attempts
    assert len(calls) == max_attempts


def test_job_succeeds_on_a_later_attempt(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = [RuntimeError("first"), RuntimeError("second"), None]

    def flaky(session: Any, _rt: Runtime, _payload: dict[str, Any]) -> None:
        outcome = outcomes.pop(0)
        audit.record_untyped(session, actor="test", action="test.flaky", details={})
        if outcome is not None:
            raise outcome

    monkeypatch.setitem(worker_module.HANDLERS, "test.flaky", flaky)
    job_id = enqueue(runtime, "test.flaky")
    worker = Worker(runtime)
    for _ in range(3):
        worker.tick()
        fake_clock.advance(timedelta(minutes=1))
    state = job(runtime, job_id)
    assert (state.status, state.attempts) == ("done", 3)
    # A failed attempt's writes (here its audit entry) were rolled back with it.
    assert len(audit_details(runtime, "test.flaky")) == 1


def test_unknown_job_kind_is_not_a_crash(runtime: Runtime, fake_clock: FakeClock) -> None:
    job_id = enqueue(runtime, "test.nobody_handles_this")
    Worker(runtime).tick()
    state = job(runtime, job_id)
    assert (state.status, state.attempts) == ("queued", 1)
    assert state.last_error is not None
    assert "no handler" in state.last_error


def test_job_of_a_dead_worker_runs_again_after_its_lease(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []
    monkeypatch.setitem(worker_module.HANDLERS, "test.ok", lambda _s, _r, p: ran.append(p["n"]))
    rt = with_settings(runtime, job_lease_seconds=30)
    job_id = enqueue(rt, "test.ok", {"n": 7})
    # A worker claims the job and dies before finishing it.
    claimed = jobs.claim(rt.engine, lease=timedelta(seconds=30))
    assert claimed is not None
    assert claimed.id == job_id
    worker = Worker(rt)
    worker.tick()
    assert ran == []
    assert job(rt, job_id).status == "running"
    fake_clock.advance(timedelta(seconds=31))
    worker.tick()
    state = job(rt, job_id)
    assert ran == [7]
    assert (state.status, state.attempts) == ("done", 2)


def test_job_whose_worker_always_dies_ends_failed(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(worker_module.HANDLERS, "test.ok", lambda _s, _r, _p: None)
    job_id = enqueue(runtime, "test.ok")
    for _ in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim(runtime.engine, lease=timedelta(seconds=5)) is not None
        fake_clock.advance(timedelta(seconds=6))
    assert jobs.claim(runtime.engine, lease=timedelta(seconds=5)) is None
    state = job(runtime, job_id)
    assert (state.status, state.attempts) == ("failed", jobs.MAX_ATTEMPTS)
    assert state.last_error is not None
    assert "lease" in state.last_error


def test_stale_failure_does_not_reset_a_job_taken_over(
    runtime: Runtime, fake_clock: FakeClock
) -> None:
    job_id = enqueue(runtime, "test.any")
    first = jobs.claim(runtime.engine, lease=timedelta(seconds=5))
    fake_clock.advance(timedelta(seconds=6))
    second = jobs.claim(runtime.engine, lease=timedelta(seconds=5))
    assert first is not None
    assert second is not None
    assert second.attempts == 2
    # The first worker comes back from a long pause and reports its failure.
    jobs.fail(runtime.engine, first, "too late")
    state = job(runtime, job_id)
    assert (state.status, state.attempts, state.last_error) == ("running", 2, None)


def test_a_run_whose_lease_was_taken_over_stores_nothing(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers, one job: the first is descheduled past its lease, the second claims the
    job again; when the first comes back, its work is rolled back, not stored twice."""

    def mark(session: Any, _rt: Runtime, payload: dict[str, Any]) -> None:
        session.add(ScheduleState(name=f"ran-{payload['run']}", last_run_at=_rt.now()))

    monkeypatch.setitem(worker_module.HANDLERS, "test.mark", mark)
    job_id = enqueue(runtime, "test.mark", {"run": "x"})
    first = jobs.claim(runtime.engine, lease=timedelta(seconds=5))
    fake_clock.advance(timedelta(seconds=6))
    second = jobs.claim(runtime.engine, lease=timedelta(seconds=5))
    assert first is not None
    assert second is not None
    Worker(runtime).run_job(jobs.ClaimedJob(second.id, second.kind, {"run": "second"}, 2))
    Worker(runtime).run_job(jobs.ClaimedJob(first.id, first.kind, {"run": "first"}, 1))
    with transaction(runtime.engine, readonly=True) as session:
        marks = set(
            session.execute(
                select(ScheduleState.name).where(ScheduleState.name.like("ran-%"))
            ).scalars()
        )
    assert marks == {"ran-second"}
    state = job(runtime, job_id)
    assert (state.status, state.attempts, state.last_error) == ("done", 2, None)


# -- signed tree heads -------------------------------------------------------------------


def heads(rt: Runtime) -> list[int]:
    with transaction(rt.engine, readonly=True) as session:
        return list(
            session.execute(select(AuditHead.tree_size).order_by(AuditHead.tree_size)).scalars()
        )


def test_worker_signs_a_head_when_the_log_grew_and_only_then(runtime: Runtime) -> None:
    rt = with_settings(runtime, audit_head_interval_seconds=1e-9)
    worker = Worker(rt)
    worker.tick()  # signs, then runs the daily retention, which writes an entry
    worker.tick()  # signs that entry
    signed = heads(rt)
    size = count(rt, AuditEntry)
    assert size >= 1
    assert signed[-1] == size

    for _ in range(3):
        worker.tick()
    assert heads(rt) == signed, "a head was signed although the log did not grow"

    with transaction(rt.engine) as session:
        audit.record_untyped(session, actor="test", action="test.event", details={"n": 1})
    worker.tick()
    assert heads(rt) == [*signed, size + 1]

    # Every head is in the head file too, with a valid signature.
    published = audit.read_head_file(rt.head_file)
    assert [h.tree_size for h in published] == heads(rt)
    assert all(audit.check_head_signature(h) for h in published)
    assert all(h.log_id == rt.keys.log_id for h in published)


def test_heads_are_signed_at_most_once_per_interval(runtime: Runtime) -> None:
    worker = Worker(with_settings(runtime, audit_head_interval_seconds=3600))
    with transaction(runtime.engine) as session:
        audit.record_untyped(session, actor="test", action="test.event", details={})
    worker.tick()
    signed = heads(runtime)
    assert len(signed) == 1
    with transaction(runtime.engine) as session:
        audit.record_untyped(session, actor="test", action="test.event", details={})
    worker.tick()
    assert heads(runtime) == signed
    worker.sign_head()  # as on shutdown
    assert heads(runtime) == [*signed, count(runtime, AuditEntry)]


# -- daily retention ---------------------------------------------------------------------


def connection(event_id: str, user_id: str, at: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "connection.seen",
        "occurred_at": at.isoformat(),
        "user_id": user_id,
        "ip": "203.0.113.9",
        "port": 40000,
    }


def test_retention_runs_once_per_day(
    runtime: Runtime,
    fake_clock: FakeClock,
    client: TestClient,
    platform_headers: dict[str, str],
) -> None:
    start = fake_clock.now()
    old, recent = start - timedelta(days=400), start - timedelta(days=10)
    ingest(
        client,
        platform_headers,
        [connection("c-old-1", "u-old", old), connection("c-new-1", "u-new", recent)],
    )
    worker = Worker(runtime)

    worker.tick()
    assert count(runtime, Connection, Connection.user_id == "u-old") == 0
    assert count(runtime, Connection, Connection.user_id == "u-new") == 1
    assert len(audit_details(runtime, "platform.retention.purge")) == 1
    with transaction(runtime.engine, readonly=True) as session:
        state = session.get(ScheduleState, "retention")
        assert state is not None
        assert state.last_run_at == start

    ingest(client, platform_headers, [connection("c-old-2", "u-old", old)])
    for offset in (timedelta(hours=1), timedelta(hours=23, minutes=59)):
        fake_clock.moment = start + offset
        worker.tick()
    assert count(runtime, Connection, Connection.user_id == "u-old") == 1
    assert len(audit_details(runtime, "platform.retention.purge")) == 1

    fake_clock.moment = start + timedelta(days=1)
    worker.tick()
    worker.tick()
    assert count(runtime, Connection, Connection.user_id == "u-old") == 0
    assert count(runtime, Connection, Connection.user_id == "u-new") == 1
    runs = audit_details(runtime, "platform.retention.purge")
    assert [r["purged"] for r in runs] == [1, 1]
    with transaction(runtime.engine, readonly=True) as session:
        state = session.get(ScheduleState, "retention")
        assert state is not None
        assert state.last_run_at == start + timedelta(days=1)


def test_a_second_worker_does_not_run_the_same_schedule(runtime: Runtime) -> None:
    with transaction(runtime.engine) as session:
        assert jobs.due(session, name="nightly", every=timedelta(days=1)) is True
    with transaction(runtime.engine) as session:
        assert jobs.due(session, name="nightly", every=timedelta(days=1)) is False


# -- the loop ------------------------------------------------------------------------------


def test_run_forever_survives_a_failing_round(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "ERROR_PAUSE_SECONDS", 0.01)
    worker = Worker(with_settings(runtime, worker_poll_seconds=0.01))
    rounds: list[str] = []

    def tick() -> bool:
        rounds.append("tick")
        if len(rounds) == 1:
            raise ConnectionError("database went away")
        worker.stop()
        return False

    monkeypatch.setattr(worker, "tick", tick)
    worker.run_forever()
    assert rounds == ["tick", "tick"]


def test_long_work_logs_its_progress_job_by_job(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(worker_module.HANDLERS, "test.slice", lambda *_: None)
    for _ in range(3):
        enqueue(runtime, "test.slice")
    worker = Worker(runtime)
    with caplog.at_level(logging.INFO, logger="rempart.worker"):
        while worker.tick():
            pass
    progress = [r.getMessage() for r in caplog.records if "(test.slice) done" in r.getMessage()]
    assert [line.rsplit("; ", 1)[1] for line in progress] == [
        "2 of this kind still to run",
        "1 of this kind still to run",
        "0 of this kind still to run",
    ]


def test_a_job_written_in_parts_stops_at_a_lease_taken_over(
    runtime: Runtime, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan's items are written a few at a time (each part its own short transaction,
    which renews the lease); a run whose lease was taken over between two parts stores no
    further part, and the job finishes once, with the run that holds it."""

    def prepare(_rt: Runtime, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, jobs.WRITE_PARTS: [{"run": payload["run"], "n": n} for n in range(3)]}

    def mark(session: Any, _rt: Runtime, part: dict[str, Any]) -> None:
        session.add(
            ScheduleState(name=f"ran-{part['run']}-{part['n']}", last_run_at=now_of(session))
        )
        if part["run"] == "first" and part["n"] == 0:
            # Descheduled past the lease after this part: another worker claims the job.
            fake_clock.advance(timedelta(minutes=10))

    monkeypatch.setitem(worker_module.HANDLERS, "test.parts", mark)
    monkeypatch.setitem(worker_module.PREPARERS, "test.parts", prepare)
    job_id = enqueue(runtime, "test.parts", {"run": "first"})
    first = jobs.claim(runtime.engine, lease=timedelta(seconds=5))
    assert first is not None

    taken_over: list[jobs.ClaimedJob] = []
    original_renew = jobs.renew

    def renew_after_takeover(session: Any, job: jobs.ClaimedJob, *, lease: timedelta) -> None:
        if not taken_over:
            claimed = jobs.claim(runtime.engine, lease=timedelta(minutes=5))
            assert claimed is not None
            taken_over.append(claimed)
        original_renew(session, job, lease=lease)

    monkeypatch.setattr(jobs, "renew", renew_after_takeover)
    Worker(runtime).run_job(first)
    monkeypatch.setattr(jobs, "renew", original_renew)
    Worker(runtime).run_job(
        jobs.ClaimedJob(job_id, "test.parts", {"run": "second"}, taken_over[0].attempts)
    )
    with transaction(runtime.engine, readonly=True) as session:
        marks = set(
            session.execute(
                select(ScheduleState.name).where(ScheduleState.name.like("ran-%"))
            ).scalars()
        )
    # The first run's first part was rolled back with its renewal; the second run wrote all.
    assert marks == {"ran-second-0", "ran-second-1", "ran-second-2"}
    state = job(runtime, job_id)
    assert (state.status, state.attempts) == ("done", 2)

"""Notices at ingest speed: a batch is checked in a few reads and written in two
statements, the worker files a slice in a few queries whatever its size, and neither
loses or half-writes anything on the way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from factories import LINK, event, ingest, notice, reports_world
from rempart.audit.models import AuditEntry
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.reports import intake
from rempart.reports import tasks as reports_tasks
from rempart.reports.models import Report, ReportCase, Reporter

world = reports_world


def stored(runtime: Runtime) -> list[Report]:
    with transaction(runtime.engine, readonly=True) as session:
        return list(session.execute(select(Report).order_by(Report.id)).scalars())


def received_in_audit(runtime: Runtime) -> int:
    with transaction(runtime.engine, readonly=True) as session:
        bodies = session.execute(select(AuditEntry.body).order_by(AuditEntry.seq)).scalars()
        entries = [json.loads(body) for body in bodies]
    return sum(int(e["details"]["received"]) for e in entries if e["action"] == "reports.received")


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements the engine runs meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    sa_event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa_event.remove(runtime.engine, "before_cursor_execute", count)


def test_a_mixed_batch_keeps_every_good_notice_with_the_codes_single_requests_get(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    # A user whose notices are suspended (DSA Art. 23), known from an earlier notice.
    first = notice(reporter=None, platform_user_id="u-suspended")
    assert world.post("/v1/reports", json=first, headers=platform_headers).status_code == 202
    with transaction(runtime.engine) as session:
        assert reports_tasks.file_notices(session, runtime) == 1
        session.execute(
            update(Reporter).values(suspended_until=datetime.now(UTC) + timedelta(days=30))
        )

    def by(user: str, **fields: Any) -> dict[str, Any]:
        return notice(reporter=None, platform_user_id=user, **fields)

    batch = [
        (by("u-1"), None),
        (by("u-2", target={"url": f"{LINK}/bons_plans/p-nowhere"}), "target_not_found"),
        (by("u-3", target={"url": f"{LINK}/solidarite_littoral"}), None),
        (by("u-4", target={"kind": "entity", "id": "ch-market"}), None),
        (by("u-5", target={"url": "ftp://elsewhere.example/x"}), "invalid_link"),
        (by("u-6", target={"url": f"{LINK}/bons_plans/p-meals"}), "target_not_found"),
        (by("u-7", good_faith=False), "good_faith_required"),
        (notice(reporter=None), "platform_user_required"),
        (by("u-suspended"), "reporter_suspended"),
        (by("u-8", target={"kind": "post", "id": "p-meals"}, category="hate_speech"), None),
        (by("u-9", target={"url": f"{LINK}/@BONS_PLANS"}), None),
        (by("u-10", target={"kind": "entity", "id": "ch-nowhere"}), "target_not_found"),
    ]
    response = world.post(
        "/v1/reports/batch", json={"notices": [n for n, _ in batch]}, headers=platform_headers
    )
    assert response.status_code == 202, response.text
    outcomes = response.json()["outcomes"]
    assert [o.get("code") for o in outcomes] == [code for _, code in batch]
    good = [o["tracking_id"] for o in outcomes if o["status"] == "received"]
    assert len(good) == 5
    # A single request answers each refused notice with the same code.
    for sent, code in batch:
        if code is not None:
            single = world.post("/v1/reports", json=sent, headers=platform_headers)
            assert single.json()["error"]["code"] == code, single.text
    # Every good notice is stored once, and filed into its case by the worker.
    assert {r.tracking_id for r in stored(runtime) if r.platform_user_id != "u-suspended"} == set(
        good
    )
    with transaction(runtime.engine) as session:
        assert reports_tasks.file_notices(session, runtime) == 5
    targets = {(r.tracking_id, r.target_kind, r.target_ref) for r in stored(runtime)}
    assert {(kind, ref) for tracking, kind, ref in targets if tracking in good} == {
        ("post", "p-scam"),
        ("entity", "ch-solidarity"),
        ("entity", "ch-market"),
        ("post", "p-meals"),
    }
    assert all(r.case_id is not None for r in stored(runtime))
    assert received_in_audit(runtime) == 6


def test_a_batch_whose_write_fails_leaves_nothing_behind(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit = runtime.settings.report_rate_limit
    one_user = [notice(reporter=None, platform_user_id="u-flood") for _ in range(limit)]
    real = intake.run_prepared

    def insert_then_fail(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)  # the notices and the counters are written, then the disk fails
        raise OperationalError("INSERT INTO reports", {}, Exception("database is locked"))

    monkeypatch.setattr(intake, "run_prepared", insert_then_fail)
    failed = world.post("/v1/reports/batch", json={"notices": one_user}, headers=platform_headers)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "database_busy"
    assert stored(runtime) == []
    monkeypatch.setattr(intake, "run_prepared", real)
    # Nothing counted either: the same user's whole allowance is still there.
    again = world.post("/v1/reports/batch", json={"notices": one_user}, headers=platform_headers)
    assert again.status_code == 202, again.text
    assert again.json()["received"] == limit
    assert len(stored(runtime)) == limit


def test_a_batch_is_written_in_two_statements_and_filed_in_a_few_queries(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    posts = 60
    ingest(
        world,
        platform_headers,
        [
            event(
                f"e-post-{i}",
                "post.published",
                post_id=f"p-many-{i}",
                entity_id="ch-market",
                text=f"Another offer, number {i}",
            )
            for i in range(posts)
        ],
    )
    batch = [
        notice(
            reporter=None,
            platform_user_id=f"u-many-{i}",
            target={"url": f"{LINK}/bons_plans/p-many-{i % posts}"},
        )
        for i in range(2 * posts)
    ]
    # One reporter twice about the same post: counted once in its case.
    batch.append(
        notice(
            reporter=None, platform_user_id="u-many-0", target={"kind": "post", "id": "p-many-0"}
        )
    )
    with statements(runtime) as seen:
        response = world.post(
            "/v1/reports/batch", json={"notices": batch}, headers=platform_headers
        )
    assert response.status_code == 202, response.text
    assert response.json()["received"] == len(batch)
    writes = [s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    # The rate limits' counters in one upsert, the notices in one insert (plus the token's
    # last use, written apart by authentication, if it writes at all).
    assert len([w for w in writes if "reports" in w or "rate_windows" in w]) == 2, writes
    with statements(runtime) as seen, transaction(runtime.engine) as session:
        assert reports_tasks.file_notices(session, runtime) == len(batch)
    # One notice at a time, this was a dozen queries per case: 700 and more here.
    assert len(seen) <= 40, "\n".join(x[:90] for x in seen)
    with transaction(runtime.engine, readonly=True) as session:
        opened = {
            c.target_ref: c
            for c in session.execute(
                select(ReportCase).where(ReportCase.target_ref.like("p-many-%"))
            ).scalars()
        }
    assert len(opened) == posts
    assert (opened["p-many-0"].reports, opened["p-many-0"].reporters) == (3, 2)
    assert {(c.reports, c.reporters) for ref, c in opened.items() if ref != "p-many-0"} == {(2, 2)}
    assert all(c.priority > 0 and c.assessed_at is not None for c in opened.values())
    assert received_in_audit(runtime) == len(batch)

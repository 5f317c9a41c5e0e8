"""Hotline reports, the harder cases: the port never sends inside a write transaction,
child sexual abuse confirmed on a whole channel or account, and the suspension that
follows a report."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, select

import write_guard
from legal_support import bearer
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.clock import as_utc
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import ScheduleState
from rempart.hotline import tasks as hotline_tasks
from rempart.hotline.reporter import DirectoryHotline
from rempart.hotline.schemas import CyberTiplineReport
from rempart.moderation.models import ModerationItem
from rempart.reports.models import Notice
from rempart.worker import Worker
from test_hotline import _publish as hotline_publish
from test_hotline import _reports as _hotline_reports


class OpenWrites:
    """Which threads hold a write transaction on the engine right now (as the suite's
    write guard defines one: a write statement, or a locking read, until commit)."""

    def __init__(self) -> None:
        self.threads: dict[int, int] = {}

    def before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if write_guard._WRITE.match(statement) or write_guard._LOCKING_READ.search(statement):
            self.threads[id(conn)] = threading.get_ident()

    def end(self, conn: Any) -> None:
        self.threads.pop(id(conn), None)

    def held_here(self) -> bool:
        return threading.get_ident() in self.threads.values()


@pytest.fixture
def open_writes(runtime: Runtime) -> Iterator[OpenWrites]:
    watcher = OpenWrites()
    engine = runtime.engine
    event.listen(engine, "before_cursor_execute", watcher.before)
    event.listen(engine, "commit", watcher.end)
    event.listen(engine, "rollback", watcher.end)
    yield watcher
    event.remove(engine, "before_cursor_execute", watcher.before)
    event.remove(engine, "commit", watcher.end)
    event.remove(engine, "rollback", watcher.end)


def test_hotline_reports_are_sent_outside_any_write_transaction(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_writes: OpenWrites,
) -> None:
    sends: list[bool] = []
    original = DirectoryHotline.submit

    def watched(self: DirectoryHotline, report: CyberTiplineReport) -> str:
        sends.append(open_writes.held_here())
        return original(self, report)

    monkeypatch.setattr(DirectoryHotline, "submit", watched)
    hotline_publish(client, runtime, platform_headers, cli, tmp_path)
    # The worker's schedule that sends hotline reports, due again.
    with transaction(runtime.engine) as session:
        session.execute(delete(ScheduleState).where(ScheduleState.name == "moderation-statements"))
    Worker(runtime).run_schedules()
    assert sends
    assert not any(sends)
    assert _hotline_reports(runtime)["p-known"].state == "sent"


# -- child sexual abuse confirmed on a channel or an account ---------------------------


def _decide(
    client: TestClient, make_token: Callable[..., str], runtime: Runtime, ref: str, action: str
) -> None:
    with transaction(runtime.engine, readonly=True) as session:
        item = session.execute(select(ModerationItem).where(ModerationItem.ref == ref)).scalar_one()
        item_id, version = item.id, item.version
    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item_id,
            "action": action,
            "category": "csam_indicators",
            "explanation": "Sexual abuse of children shared throughout, confirmed on review.",
            "version": version,
        },
        headers=bearer(make_token(Role.MODERATOR)),
    )
    assert decided.status_code == 201, decided.text


def _written(runtime: Runtime, reference: str) -> dict[str, Any]:
    path = runtime.settings.hotline_directory / f"{reference}.json"
    written: dict[str, Any] = json.loads(path.read_text())
    return written


def test_a_channel_confirmed_as_sharing_the_material_is_one_report_with_all_its_files(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    hotline_publish(client, runtime, platform_headers, cli, tmp_path)
    _decide(client, make_token, runtime, "ch-pics", "suspend_entity")
    hotline_tasks.run(runtime)
    channel = _hotline_reports(runtime)["ch-pics"]
    assert channel.state == "sent"
    written = _written(runtime, channel.reference)
    assert written["webPageIncident"]["url"] == "https://t.example/ch-pics"
    assert written["webPageIncident"]["entityId"] == "ch-pics"
    # The channel's owner is the person reported; every post's file travels, each with
    # the post it was published in.
    assert written["personOrUserReported"]["espIdentifier"] == "u-owner"
    files = {f["fileId"]: f["locationOfFile"] for f in written["uploadedFiles"]}
    assert files == {
        "p-known#0": "https://t.example/ch-pics/p-known",
        "p-new#0": "https://t.example/ch-pics/p-new",
    }
    assert any("whole public channel" in a for a in written["incidentSummary"]["reportAnnotations"])
    # The known file's own report (a hash match) stays its own.
    assert _hotline_reports(runtime)["p-known"].state == "sent"
    listed = client.get("/v1/hotline/reports", headers=bearer(make_token(Role.MODERATOR)))
    assert {r["item"]: r["files"] for r in listed.json()["items"]} == {
        "entity:ch-pics": 2,
        "post:p-known": 1,
    }


def test_an_account_suspended_for_the_material_is_reported_with_its_other_files(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    hotline_publish(client, runtime, platform_headers, cli, tmp_path)
    _decide(client, make_token, runtime, "p-new", "suspend_account")
    hotline_tasks.run(runtime)
    report = _hotline_reports(runtime)["p-new"]
    written = _written(runtime, report.reference)
    assert written["personOrUserReported"]["espIdentifier"] == "u-up"
    assert sorted(f["fileId"] for f in written["uploadedFiles"]) == ["p-known#0", "p-new#0"]
    assert any("account" in a for a in written["incidentSummary"]["reportAnnotations"])


# -- the suspension that follows a report ----------------------------------------------


def test_the_suspension_has_no_end_but_a_review_date_shown_and_audited(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    hotline_publish(client, runtime, platform_headers, cli, tmp_path)
    hotline_tasks.run(runtime)
    report = _hotline_reports(runtime)["p-known"]
    assert report.sent_at is not None
    with transaction(runtime.engine, readonly=True) as session:
        [notice] = session.execute(
            select(Notice).where(Notice.kind == "account_suspended")
        ).scalars()
        [audited] = session.execute(
            select(AuditEntry.body).where(AuditEntry.action == "hotline.account.suspended")
        ).scalars()
    review = datetime.fromisoformat(notice.body["review_at"])
    assert notice.body["until"] is None
    assert timedelta(days=179) < review - as_utc(report.sent_at) < timedelta(days=181)
    assert json.loads(audited)["details"]["review_at"] == notice.body["review_at"]
    listed = client.get("/v1/hotline/reports", headers=bearer(make_token(Role.MODERATOR)))
    [row] = listed.json()["items"]
    assert row["suspension_review_at"] is not None
    assert datetime.fromisoformat(row["suspension_review_at"].replace("Z", "+00:00")) == review

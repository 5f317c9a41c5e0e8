"""DSA report format 4, verified from its files alone: trusted flaggers' notices counted
under their own category in a mixed batch, suspensions of complainants (Art. 23(2), Art.
24(1)(b)) in the JSON and the template row, complaints answered by an old batch-shaped
``reports.appeal.decided`` entry counted as decided, and the automated means' precision
named so beside their accuracy. A report of format 3 over the same log still verifies with
the definitions of format 3."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from factories import notice, reports_world, run_worker
from legal_support import MovableClock
from rempart.audit import service as audit
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.transparency import dsa_templates as templates
from rempart.transparency import service as transparency_service
from rempart.transparency.figures import Log, compare, compute, quarter, quarter_of
from report_support import moderator, owner_complaint, suspend_channel

ROOT = Path(__file__).resolve().parents[2]
world = reports_world
PERIOD = quarter(2026, 2)
NO_DATABASE = {
    "REMPART_DATABASE_URL": "sqlite:////nonexistent/rempart.db",
    "REMPART_KEY_FILE": "/nonexistent/keys.json",
}
UNFOUNDED = "Number of suspensions enacted for the provision of manifestly unfounded complaints"


def _standalone(*args: str) -> subprocess.CompletedProcess[str]:
    """verify_report.py, run where any import of Rempart fails."""
    code = (
        "import runpy, sys; sys.modules['rempart'] = None; "
        f"sys.argv = ['verify_report.py', *{list(args)!r}]; "
        f"runpy.run_path({str(ROOT / 'verify_report.py')!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )


def _rows(text: str) -> list[dict[str, str]]:
    table = list(csv.reader(io.StringIO(text)))
    return [dict(zip(table[0], row, strict=True)) for row in table[1:]]


def _code(category: str) -> str:
    """The 4_notices row of one of Rempart's categories: its DSA category."""
    codes = {label: code for label, _, code in templates.CATEGORIES}
    return codes[templates.POLICY_CATEGORIES[category][0]]


def _flagged(notices: list[dict[str, str]], category: str) -> str:
    [row] = [r for r in notices if r["Category of illegal content"] == _code(category)]
    return row["Number of notices received from Trusted flaggers"]


def _scenario(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str], platform: dict[str, str]
) -> None:
    # One notice of doxxing from the public, then five trusted flaggers' notices of hate
    # speech on the same post: the worker files them in one entry, whose categories are
    # written in alphabetical order (format 3 counted the flaggers' under "doxxing").
    doxxing = notice(category="doxxing", explanation="It publishes a person's home address.")
    assert world.post("/v1/reports", json=doxxing).status_code == 202
    flagger = {"Authorization": f"Bearer {make_token(Role.FLAGGER)}"}
    for i in range(5):
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                category="hate_speech",
                explanation=f"Incites hatred against a group of people (item {i}).",
            ),
            headers=flagger,
        )
        assert sent.status_code == 202, sent.text
    # A notice on the solidarity channel, suspended; its owner's complaints are upheld
    # and marked manifestly unfounded until the processing of them is suspended.
    sent = world.post(
        "/v1/reports",
        json=notice(
            target={"kind": "entity", "id": "ch-solidarity"},
            category="terrorism",
            explanation="This channel helps people cross the border illegally.",
        ),
    )
    assert sent.status_code == 202, sent.text
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    page = world.get("/v1/moderation/queue?limit=100", headers=first).json()
    channel = next(i["id"] for i in page["items"] if i["ref"] == "ch-solidarity")
    decision = suspend_channel(world, first, channel)
    for number in range(runtime.settings.complainant_warn_after + 1):
        filed = owner_complaint(world, platform, decision)
        assert filed.status_code == 202, filed.text
        decision = suspend_channel(world, [second, first][number % 2], channel)
        marked = world.post(f"/v1/appeals/{filed.json()['tracking_id']}/unfounded", headers=first)
        assert marked.status_code == 200, marked.text
    refused = owner_complaint(world, platform, decision)
    assert refused.json()["error"]["code"] == "submissions_suspended"
    # Five complaints an earlier version answered in one batch entry.
    with transaction(runtime.engine) as session:
        for i in range(5):
            audit.record_untyped(
                session,
                actor="appellant:owner",
                action="reports.appeal.filed",
                target="post:p-old",
                details={"appeal": f"old-appeal-{i}", "decision": 9, "party": "owner"},
            )
        audit.record_untyped(
            session,
            actor="principal:9",
            action="reports.appeal.decided",
            details={
                "decision": 10,
                "appeals": [f"old-appeal-{i}" for i in range(5)],
                "outcomes": {"upheld": 5},
            },
        )


def _publish(
    cli: Callable[..., Any], folder: Path, period: str
) -> tuple[Path, dict[str, Any], Path]:
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "dsa.json"
    result = cli(
        "transparency",
        "report",
        "--kind",
        "dsa",
        "--period",
        period,
        "--out",
        str(report),
        "--dataset-out",
        str(folder / "dsa.dataset.json"),
    )
    assert result.exit_code == 0, result.stderr
    files = folder / "templates"
    written = cli("transparency", "dsa", "--period", period, "--format", "csv", "--out", str(files))
    assert written.exit_code == 0, written.stderr
    return report, json.loads(report.read_text()), files


def test_format_4_counts_what_format_3_left_out_and_both_verify_from_files(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    moved: MovableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scenario(world, runtime, make_token, platform_headers)
    period = quarter_of(datetime.now(UTC))
    moved.offset = period.end - datetime.now(UTC) + timedelta(days=1)

    report, document, files = _publish(cli, tmp_path / "v4", period.name)
    assert document["version"] == 4
    figures = document["figures"]
    notices = figures["notices"]
    assert notices["from_trusted_flaggers"] == 5
    assert notices["from_trusted_flaggers_by_category"] == {"hate_speech": 5}
    assert figures["article_23"]["suspensions"] == {
        "notices": 0,
        "complaints": "<5",
        "manifestly_illegal_content": 0,
    }
    complaints = figures["complaints"]
    assert complaints["received"] == complaints["decided"] == 8
    assert complaints["by_outcome"] == {"upheld": 8}
    means = figures["automated_means"]
    assert {"precision", "accuracy", "recall", "error_rate"} <= set(means)
    run = _standalone(str(report), "--templates", str(files))
    assert run.returncode == 0, run.stderr
    offline = cli("transparency", "verify", str(report), "--templates", str(files), env=NO_DATABASE)
    assert offline.exit_code == 0, offline.stderr
    # The batch entry is published with its appeals pseudonymised, as their filings are.
    public = json.loads((tmp_path / "v4" / "dsa.dataset.json").read_text())
    [batch] = [
        e["entry"]["details"]
        for e in public["entries"]
        if e["entry"]["action"] == "reports.appeal.decided" and "appeals" in e["entry"]["details"]
    ]
    assert batch["outcomes"] == {"upheld": 5}
    assert "old-appeal-0" not in json.dumps(public)
    filed = {
        e["entry"]["details"]["appeal"]
        for e in public["entries"]
        if e["entry"]["action"] == "reports.appeal.filed"
    }
    assert set(batch["appeals"]) <= filed
    # An auditor with the log: each published entry is the reduction of its log entry.
    against = cli("transparency", "verify", str(report), "--against-log")
    assert against.exit_code == 0, against.stderr
    notices_rows = _rows((files / "4_notices.csv").read_text(encoding="utf-8"))
    assert _flagged(notices_rows, "hate_speech") == "5"
    assert _flagged(notices_rows, "doxxing") == "0"
    appeals = _rows((files / "7_appeals_and_recidivism.csv").read_text(encoding="utf-8"))
    [row] = [r for r in appeals if r["Indicator"] == UNFOUNDED]
    assert (row["Value"], row["Contextual Information"]) == ("<5", "")

    # A figure changed under format 4's definitions is caught, naming it.
    forged = json.loads(report.read_text())
    forged["figures"]["complaints"]["decided"] = "<5"
    (tmp_path / "v4" / "forged.json").write_text(json.dumps(forged))
    (tmp_path / "v4" / "forged.dataset.json").write_text(
        (tmp_path / "v4" / "dsa.dataset.json").read_text()
    )
    caught = _standalone(str(tmp_path / "v4" / "forged.json"))
    assert caught.returncode == 1
    assert "figures.complaints.decided" in caught.stderr

    # The same log, published as format 3 did: its definitions, and it still verifies.
    monkeypatch.setattr(transparency_service, "FORMAT_VERSION", 3)
    old_report, old, old_files = _publish(cli, tmp_path / "v3", period.name)
    assert old["version"] == 3
    assert "from_trusted_flaggers_by_category" not in old["figures"]["notices"]
    assert old["figures"]["complaints"]["decided"] == "<5"
    assert "precision" not in old["figures"]["automated_means"]
    assert "suspensions" not in old["figures"]["article_23"]
    run = _standalone(str(old_report), "--templates", str(old_files))
    assert run.returncode == 0, run.stderr
    old_rows = _rows((old_files / "4_notices.csv").read_text(encoding="utf-8"))
    assert _flagged(old_rows, "doxxing") == "5"
    assert cli("transparency", "verify", str(old_report), env=NO_DATABASE).exit_code == 0
    # Its dataset published the batch entry as format 3 did, and the log still says so.
    against = cli("transparency", "verify", str(old_report), "--against-log")
    assert against.exit_code == 0, against.stderr
    published = json.loads((tmp_path / "v3" / "dsa.dataset.json").read_text())
    batch = [
        e["entry"]["details"]
        for e in published["entries"]
        if e["entry"]["action"] == "reports.appeal.decided"
        and "appeal" not in e["entry"]["details"]
    ]
    assert batch == [{}]


def _entry(seq: int, when: datetime, kind: str, target: str, **details: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": kind,
        "target": target,
        "country": None,
        "details": details,
    }


def test_precision_accuracy_recall_and_error_rate_of_automated_means() -> None:
    """Art. 15(1)(e): over the items both automated means and a moderator assessed."""
    start = PERIOD.start + timedelta(days=2)
    entries: list[dict[str, Any]] = []

    def add(hours: float, kind: str, target: str, **details: Any) -> None:
        entries.append(
            _entry(len(entries), start + timedelta(hours=hours), kind, target, **details)
        )

    # Eight automated restrictions: six confirmed (true positives), two reversed.
    for i in range(8):
        add(0, "moderation.item.restricted", f"post:r{i}", category="spam", ground_type="terms")
        action = "no_violation" if i < 2 else "remove_content"
        add(1, "moderation.decision", f"post:r{i}", action=action, automation="partially")
    # Items with signals the means left up: five kept (true negatives), one restricted.
    for i in range(6):
        action = "remove_content" if i == 0 else "no_violation"
        add(2, "moderation.decision", f"post:s{i}", action=action, automation="partially")
    # A moderator's decision without any automated assessment counts in none of them.
    add(3, "moderation.decision", "post:h", action="remove_content", automation="not")
    log = Log()
    for entry in entries:
        log.add(entry)
    means = compute("dsa", log, PERIOD)["automated_means"]
    assert (means["confirmed"], means["reversed"]) == (6, "<5")
    assert means["precision"] == 0.75  # 6 of 8: what format 3 published as "accuracy"
    assert means["accuracy"] == 0.786  # (6 + 5) of 14
    assert means["recall"] == 0.857  # 6 of 7
    assert means["error_rate"] == 0.214  # (2 + 1) of 14
    old = compute("dsa", log, PERIOD, 3)["automated_means"]
    assert old["accuracy"] == 0.75
    assert "precision" not in old
    # Each format verifies against its own definitions, and only them.
    as_format_3 = {"version": 3, "figures": compute("dsa", log, PERIOD, 3)}
    assert compare(as_format_3, compute("dsa", log, PERIOD, 3)) == []
    assert compare({**as_format_3, "version": 4}, compute("dsa", log, PERIOD))


def test_a_no_violation_decision_is_action_on_the_notice() -> None:
    """Art. 15(1)(b): deciding that a noticed item stays up acts on the notice; the median
    time to act counts it."""
    start = PERIOD.start + timedelta(days=4)
    entries = []
    for i in range(5):
        entries.append(
            _entry(
                len(entries),
                start,
                "reports.received",
                f"post:k{i}",
                by_category={"hate_speech": 1},
                by_channel={"web": 1},
            )
        )
        entries.append(
            _entry(
                len(entries),
                start + timedelta(hours=i + 1),
                "moderation.decision",
                f"post:k{i}",
                action="no_violation",
                ground_type="terms",
                automation="not",
            )
        )
    log = Log()
    for entry in entries:
        log.add(entry)
    for version in (3, 4):
        notices = compute("dsa", log, PERIOD, version)["notices"]
        assert notices["items_noticed"] == notices["items_acted_on"] == 5
        assert notices["median_hours_to_act"] == 3.0

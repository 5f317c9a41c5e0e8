"""The DSA Art. 15 and 24 figures the templates of Implementing Regulation (EU) 2024/2835
ask for, computed from audit entries: the accuracy of automated means from moderators'
confirmations and reversals, the median time to act on notices, out-of-court disputes and
the average monthly active recipients, published in a report that verifies offline."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from legal_support import MovableClock
from rempart.core.deps import Runtime
from rempart.transparency import figures as figures_module
from rempart.transparency import standalone_verify
from rempart.transparency.figures import Log, dsa, quarter
from rempart.worker import Worker

PERIOD = quarter(2026, 2)


def _entry(seq: int, when: datetime, kind: str, target: str, **details: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": kind,
        "target": target,
        "country": None,
        "details": details,
    }


def test_accuracy_of_automated_means_and_time_to_act_come_from_moderators() -> None:
    start = PERIOD.start + timedelta(days=3)
    entries = []
    # Six automated restrictions: four confirmed by a moderator, two reversed.
    for i in range(6):
        entries.append(_entry(len(entries), start, "moderation.item.restricted", f"post:a{i}"))
    for i in range(6):
        action = "no_violation" if i < 2 else "remove_content"
        entries.append(
            _entry(
                len(entries),
                start + timedelta(hours=i + 1),
                "moderation.decision",
                f"post:a{i}",
                action=action,
                ground_type="terms",
                automation="partially",
            )
        )
    # Five noticed items acted on 2, 3, 4, 5 and 6 hours after their notice.
    for i in range(5):
        entries.append(
            _entry(
                len(entries),
                start,
                "reports.received",
                f"post:n{i}",
                by_category={"scams_fraud": 1},
                by_channel={"public": 1},
            )
        )
        entries.append(
            _entry(
                len(entries),
                start + timedelta(hours=2 + i),
                "moderation.decision",
                f"post:n{i}",
                action="remove_from_search",
                ground_type="illegal",
                automation="not",
            )
        )
    # An automated restriction before the period, reviewed inside it: not this period's.
    entries.append(
        _entry(
            len(entries), PERIOD.start - timedelta(days=1), "moderation.item.restricted", "post:old"
        )
    )
    entries.append(
        _entry(
            len(entries),
            start,
            "moderation.decision",
            "post:old",
            action="no_violation",
            ground_type="terms",
            automation="not",
        )
    )
    log = Log()
    for entry in sorted(entries, key=lambda e: e["ts"]):
        log.add(entry)
    figures = dsa(log, PERIOD)
    automated = figures["automated_means"]
    assert automated["reviewed_by_moderators"] == 6
    assert (automated["confirmed"], automated["reversed"]) == (4, 2)
    assert automated["accuracy"] == 0.667
    assert automated["error_rate"] == 0.333
    assert figures["notices"]["median_hours_to_act"] == 4.0
    assert figures["orders_to_act"]["total"] == 0


def test_notices_acted_on_own_initiative_measures_and_complaints_are_broken_down() -> None:
    """Art. 15(1)(b) to (d): action on notices by ground and by automated means, measures
    taken on the provider's own initiative by category, detection method and restriction,
    complaints by who filed them."""
    start = PERIOD.start + timedelta(days=10)
    entries: list[dict[str, Any]] = []

    def add(hours: float, kind: str, target: str, **details: Any) -> None:
        entries.append(
            _entry(len(entries), start + timedelta(hours=hours), kind, target, **details)
        )

    for i, (ground, automation) in enumerate(
        [("illegal", "not"), ("illegal", "not"), ("terms", "partially")]
    ):
        add(0, "reports.received", f"post:n{i}", by_category={"scams_fraud": 1}, by_channel={})
        decision = dict(action="remove_content", category="scams_fraud", automation=automation)
        add(1 + i, "moderation.decision", f"post:n{i}", ground_type=ground, **decision)
    # Found by the classifier, then confirmed and escalated by a moderator: both measures
    # were detected by automated means.
    add(0, "moderation.item.restricted", "post:x", category="hate_speech", ground_type="terms")
    add(
        2,
        "moderation.decision",
        "post:x",
        action="remove_content",
        category="hate_speech",
        ground_type="terms",
        automation="not",
    )
    # Found by a moderator; and a look that restricted nothing.
    add(
        3,
        "moderation.decision",
        "post:y",
        action="remove_content",
        category="spam",
        ground_type="terms",
        automation="not",
    )
    add(
        4,
        "moderation.decision",
        "post:z",
        action="no_violation",
        category="spam",
        ground_type="terms",
        automation="not",
    )
    for i, party in enumerate(["owner", "owner", "reporter"]):
        add(5, "reports.appeal.filed", f"post:n{i}", appeal=f"ap{i}", decision=i, party=party)
    log = Log()
    for entry in entries:
        log.add(entry)
    figures = dsa(log, PERIOD)
    assert figures["notices"]["items_acted_on_by_ground"] == {"illegal": 2, "terms": 1}
    assert figures["notices"]["items_acted_on_by_automated_means"] == 1
    own = figures["own_initiative"]
    assert (own["total"], own["by_detection"]) == (3, {"automated": 2, "human": 1})
    assert own["by_restriction"] == {"remove_content": 2, "remove_from_search": 1}
    assert own["by_category"] == {
        "hate_speech": {"automated": {"remove_content": 1, "remove_from_search": 1}},
        "spam": {"human": {"remove_content": 1}},
    }
    assert figures["complaints"]["by_party"] == {"owner": 2, "reporter": 1}


def test_a_report_published_in_format_2_still_verifies_without_the_figures_added_since() -> None:
    log = Log()
    log.add(_entry(0, PERIOD.start + timedelta(days=1), "moderation.item.restricted", "post:a"))
    recomputed = figures_module.compute("dsa", log, PERIOD)
    older = {k: v for k, v in recomputed.items() if k != "own_initiative"}
    assert figures_module.compare({"version": 2, "figures": older}, recomputed) == []
    # A current report may not leave a figure out, nor change one.
    assert figures_module.compare({"version": 3, "figures": older}, recomputed)
    changed = {**recomputed, "automated_means": {**recomputed["automated_means"], "reversed": 7}}
    assert figures_module.compare({"version": 2, "figures": changed}, recomputed)


def test_disputes_and_active_recipients_reach_a_verifiable_report(
    cli: Callable[..., Any], moved: MovableClock, tmp_path: Path
) -> None:
    quarter_now = standalone_verify.parse_period(
        f"{datetime.now(UTC).year}-Q{(datetime.now(UTC).month - 1) // 3 + 1}"
    )
    tracking = []
    for _ in range(6):
        result = cli("dsa", "dispute-submit", "--body", "Appeals Centre Europe")
        assert result.exit_code == 0, result.stderr
        tracking.append(result.stdout.strip())
    for number, dispute in enumerate(tracking[:5]):
        outcome = "in_favour_of_recipient" if number < 3 else "in_favour_of_provider"
        result = cli("dsa", "dispute-decide", dispute, "--outcome", outcome)
        assert result.exit_code == 0, result.stderr
    again = cli("dsa", "dispute-decide", tracking[0], "--outcome", "settled")
    assert again.exit_code != 0
    assert "dispute_already_decided" in again.stderr or "already" in again.stderr
    month = quarter_now.start.strftime("%Y-%m")
    counted = cli("dsa", "recipients", "--month", month)
    assert counted.exit_code == 0, counted.stderr
    assert json.loads(counted.stdout)["month"] == month
    assert cli("dsa", "recipients", "--month", "2026-13").exit_code != 0

    moved.offset = quarter_now.end - datetime.now(UTC) + timedelta(days=1)
    out = tmp_path / "dsa.json"
    result = cli(
        "transparency",
        "report",
        "--kind",
        "dsa",
        "--period",
        quarter_now.name,
        "--out",
        str(out),
        "--dataset-out",
        str(tmp_path / "dsa.dataset.json"),
    )
    assert result.exit_code == 0, result.stderr
    figures = json.loads(out.read_text())["figures"]
    disputes = figures["out_of_court_disputes"]
    assert disputes["submitted"] == 6
    assert disputes["decided"] == 5
    assert disputes["implemented"] == 5
    assert disputes["by_outcome"] == {"in_favour_of_provider": "<5", "in_favour_of_recipient": "<5"}
    assert figures["average_monthly_active_recipients"]["months_counted"] == "<5"  # one month
    dataset = (tmp_path / "dsa.dataset.json").read_text()
    assert "Appeals Centre Europe" not in dataset
    assert not any(t in dataset for t in tracking)
    verified = cli(
        "transparency",
        "verify",
        str(out),
        env={"REMPART_DATABASE_URL": "sqlite:////nonexistent/x.db"},
    )
    assert verified.exit_code == 0, verified.stderr


def test_the_worker_counts_each_ended_month_once(runtime: Runtime) -> None:
    worker = Worker(runtime)
    worker.run_schedules()
    worker.run_schedules()
    with runtime.engine.connect() as connection:
        bodies = connection.execute(
            sa.text("SELECT body FROM audit_entries WHERE action = 'platform.active_recipients'")
        ).scalars()
        months = [json.loads(b)["details"]["month"] for b in bodies]
    now = datetime.now(UTC)
    last = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert months == [last]

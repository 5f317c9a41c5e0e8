"""Cases: every open notice about one target, weighed and placed in the moderators' queue.

Priority weighs the category's severity, how many distinct credible reporters there are
(credibility: each reporter's past accuracy, and for platform users the account's age and
activity), and velocity. Trusted flaggers' cases (DSA Art. 22) come first. Reports never
restrict anything by themselves: they only ask a human to look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.moderation import reasons
from rempart.moderation.models import ModerationItem
from rempart.moderation.pipeline import source_marks
from rempart.moderation.signals import policy
from rempart.platform.models import Entity
from rempart.reports.models import Report, ReportCase, Reporter

# Trusted flaggers' notices are processed first: this lifts them above any other case.
TRUSTED_FLAGGER_BOOST = 1000.0
FRESH_ACCOUNT = timedelta(days=7)
# An account this old, with more connections than this lately, was not made to report.
ESTABLISHED_ACCOUNT = timedelta(days=90)
ACTIVE_CONNECTIONS = 3
# Reporters below this credibility are counted, but do not raise a case's priority.
CREDIBLE = 0.5


def severity(category: str) -> int:
    known = policy().categories.get(category)
    return known.severity if known else 1


def credibility(
    reporter: Reporter | None,
    *,
    account_created_at: datetime | None,
    account_connections: int | None,
    now: datetime,
) -> float:
    """0 to 1: how much one more notice from this reporter should move a case."""
    if reporter is None:
        return 0.5  # anonymous: allowed for child sexual abuse, weighed as an unknown
    if reporter.kind == "flagger":
        return 1.0
    accuracy = (reporter.upheld + 1) / (reporter.upheld + reporter.rejected + 2)
    factor = 0.7  # an email address nobody vouches for
    if reporter.kind == "platform_user":
        if account_created_at is None:
            factor = 0.5
        elif now - as_utc(account_created_at) < FRESH_ACCOUNT:
            factor = 0.3
        else:
            factor = 1.0
        if not account_connections:
            factor *= 0.5
    return round(min(1.0, 2 * accuracy) * factor, 4)


def case_priority(case: ReportCase, now: datetime) -> float:
    """Severity, raised by the credible weight (``credible_weight``) and by velocity.

    A case marked as a raid waits in a band of its own, below every unmarked case of its
    severity (from half the severity, rising towards it with its credible weight): a
    suspected raid never outranks people reporting something of the same gravity, however
    many it brings, and its pace buys nothing. It keeps the place of its severity among
    the other categories, and the moderators' "suspected raids" view shows it."""
    weight = 1 + math.log2(1 + case.credible_reporters)
    if case.raid_suspected:
        value = severity(case.category) * (1 - 0.5 / weight)
    else:
        hours = max((now - as_utc(case.first_report_at)).total_seconds() / 3600, 1.0)
        velocity = 1 + min(1.0, case.reports / hours / 10) * (1 - case.raid_score)
        value = severity(case.category) * weight * velocity
    if case.trusted_flagger:
        value += TRUSTED_FLAGGER_BOOST
    return round(value, 4)


def queue_reason(case: ReportCase) -> str:
    if case.trusted_flagger:
        return "trusted_flagger"
    return "suspected_raid" if case.raid_suspected else "user_report"


def _items_for(
    session: Session, *, targets: dict[tuple[str, str], str], now: datetime
) -> dict[tuple[str, str], ModerationItem]:
    """The moderation item of each target ((kind, ref): entity id), created for those not
    scanned yet: the scan fills in the rest and keeps the item queued."""
    found = {
        (item.kind, item.ref): item
        for item in session.execute(
            select(ModerationItem).where(
                ModerationItem.kind.in_({kind for kind, _ in targets}),
                ModerationItem.ref.in_({ref for _, ref in targets}),
            )
        ).scalars()
        if (item.kind, item.ref) in targets
    }
    missing = {target: entity_id for target, entity_id in targets.items() if target not in found}
    if not missing:
        return found
    entities = {
        e.entity_id: e
        for e in session.execute(
            select(Entity).where(Entity.entity_id.in_(set(missing.values())))
        ).scalars()
    }
    rows: list[dict[str, Any]] = []
    for (kind, ref), entity_id in missing.items():
        entity = entities.get(entity_id)
        rows.append(
            {
                "kind": kind,
                "ref": ref,
                "entity_id": entity_id,
                "owner_user_id": entity.owner_user_id if entity else None,
                "state": "visible",
                "pending_review": False,
                "priority": 0.0,
                "confidence": 0.0,
                "reach": (entity.member_count or 0) if entity else 0,
                "signals": [],
                "signal_sources": "",
                "model_version": "reports",
                "content_digest": "",
                "updated_at": now,
            }
        )
    # One statement for all of them (the ORM would insert them one by one for their ids).
    for item in session.scalars(insert(ModerationItem).returning(ModerationItem), rows):
        found[(item.kind, item.ref)] = item
    return found


@dataclass(frozen=True)
class FirstNotice:
    """What a new case takes from its target's first notice."""

    entity_id: str
    category: str
    at: datetime


def open_cases(
    session: Session, *, targets: dict[tuple[str, str], FirstNotice], now: datetime
) -> dict[tuple[str, str], ReportCase]:
    """Each target's open case (locked), or a new one opened at its first notice, in a few
    queries for all of them."""
    found: dict[tuple[str, str], ReportCase] = {}
    for case in session.execute(
        select(ReportCase)
        .where(
            ReportCase.target_kind.in_({kind for kind, _ in targets}),
            ReportCase.target_ref.in_({ref for _, ref in targets}),
            ReportCase.state == "open",
        )
        .order_by(ReportCase.id)
        .with_for_update()
    ).scalars():
        if (case.target_kind, case.target_ref) in targets:
            found.setdefault((case.target_kind, case.target_ref), case)
    missing = {target: first for target, first in targets.items() if target not in found}
    if not missing:
        return found
    items = _items_for(
        session, targets={target: first.entity_id for target, first in missing.items()}, now=now
    )
    rows = [
        {
            "target_kind": kind,
            "target_ref": ref,
            "entity_id": first.entity_id,
            "state": "open",
            "category": first.category,
            "reports": 0,
            "reporters": 0,
            "credible_reporters": 0.0,
            "trusted_flagger": False,
            "priority": 0.0,
            "raid_suspected": False,
            "raid_score": 0.0,
            "raid_signals": {},
            "item_id": items[(kind, ref)].id,
            "first_report_at": first.at,
            "last_report_at": first.at,
        }
        for (kind, ref), first in missing.items()
    ]
    for case in session.scalars(insert(ReportCase).returning(ReportCase), rows):
        found[(case.target_kind, case.target_ref)] = case
    return found


def reporting_again(
    session: Session, *, case_ids: set[int], reporter_ids: set[int]
) -> set[tuple[int, int]]:
    """(case, reporter) pairs among these in which the reporter has already reported."""
    if not case_ids or not reporter_ids:
        return set()
    rows = session.execute(
        select(Report.case_id, Report.reporter_id)
        .where(Report.case_id.in_(case_ids), Report.reporter_id.in_(reporter_ids))
        .distinct()
    )
    return {(int(c), int(r)) for c, r in rows if c is not None and r is not None}


def add_report(
    *, case: ReportCase, report: Report, reporter: Reporter | None, repeat: bool, now: datetime
) -> None:
    """Count the report in its case; a reporter counts once however often they report
    (``repeat``: they already have in this case). The caller places the case in the queue
    once it has added all the case's new reports."""
    case.reports += 1
    case.last_report_at = report.created_at
    if severity(report.category) > severity(case.category):
        case.category = report.category
    weight = credibility(
        reporter,
        account_created_at=report.account_created_at,
        account_connections=report.account_connections,
        now=now,
    )
    report.weight = weight
    if not repeat:
        case.reporters += 1
        if weight >= CREDIBLE:
            case.credible_reporters = round(case.credible_reporters + weight, 4)
    if report.channel == "flagger":
        case.trusted_flagger = True


def established_account(
    *, created_at: datetime, account_created_at: datetime | None, connections: int | None
) -> bool:
    """A platform account months old and in use when it reported: not made for the purpose."""
    return (
        account_created_at is not None
        and as_utc(created_at) - as_utc(account_created_at) >= ESTABLISHED_ACCOUNT
        and (connections or 0) > ACTIVE_CONNECTIONS
    )


def credible_weight(session: Session, *, case: ReportCase) -> float:
    """The weight of the case's credible reporters whose notices are not part of a
    coordinated pattern, each reporter counted once (anonymous notices one by one).

    What a suspected raid leaves each of them: a reporter with upheld notices or a trusted
    flagger keeps their whole weight whatever the case's score or mark. An established
    account (``established_account``) keeps it too, and half of it in a case marked as a
    raid, where the raiders' quieter members look just like it. Anyone else keeps the share
    the score leaves (``1 - raid_score``), and nothing in a marked case: volume from people
    nobody vouches for never buys a suspected raid its place in the queue."""
    rows = session.execute(
        select(
            Report.reporter_id,
            Report.weight,
            Report.created_at,
            Report.account_created_at,
            Report.account_connections,
            Reporter.upheld,
            Reporter.kind,
        )
        .outerjoin(Reporter, Reporter.id == Report.reporter_id)
        .where(
            Report.case_id == case.id,
            Report.coordinated.is_(False),
            Report.weight >= CREDIBLE,
        )
    ).tuples()
    return weigh_credible(case, list(rows))


# A credible notice outside the pattern: reporter id, weight, received at, the account's
# creation and connections, the reporter's upheld notices and kind.
CredibleRow = tuple[
    int | None, float | None, datetime, datetime | None, int | None, int | None, str | None
]


def weigh_credible(case: ReportCase, rows: list[CredibleRow]) -> float:
    """``credible_weight`` of the case's credible notices outside the pattern."""
    unproven = 0.0 if case.raid_suspected else max(0.0, 1 - case.raid_score)
    best: dict[int, float] = {}  # each reporter once, at their best
    anonymous = 0.0
    for reporter_id, weight, created_at, account_created, connections, upheld, kind in rows:
        if (upheld or 0) > 0 or kind == "flagger":
            share = 1.0
        elif established_account(
            created_at=created_at, account_created_at=account_created, connections=connections
        ):
            share = 0.5 if case.raid_suspected else 1.0
        else:
            share = unproven
        value = float(weight or 0) * share
        if reporter_id is None:
            anonymous += value
        else:
            best[reporter_id] = max(best.get(reporter_id, 0.0), value)
    return round(anonymous + sum(best.values()), 4)


def place_in_queue(session: Session, *, case: ReportCase, now: datetime) -> None:
    item = session.get(ModerationItem, case.item_id)
    if item is None:
        return
    case.priority = case_priority(case, now)
    summary = {
        "source": "reports",
        "category": case.category,
        "score": round(min(1.0, case.credible_reporters / 10), 4),
        "detail": (
            f"case {case.id}: {case.reports} reports from {case.reporters} reporters "
            f"({case.credible_reporters:.1f} credible)"
            + (", trusted flagger" if case.trusted_flagger else "")
            + (f", suspected raid ({case.raid_score:.2f})" if case.raid_suspected else "")
        ),
    }
    item.signals = [s for s in item.signals if s.get("source") != "reports"] + [summary]
    item.signal_sources = source_marks(str(s["source"]) for s in item.signals)
    reasons.put(item, queue_reason(case), case.priority, now=now, replacing=reasons.REPORTS)


def cases_of(session: Session, *, item_id: int) -> list[ReportCase]:
    """The item's cases, newest first: its report history."""
    return list(
        session.execute(
            select(ReportCase).where(ReportCase.item_id == item_id).order_by(ReportCase.id.desc())
        ).scalars()
    )


def entity_standing(session: Session, *, entity_id: str) -> dict[str, object]:
    """What a moderator weighs about the entity: its age, audience and record."""
    entity = session.execute(
        select(Entity).where(Entity.entity_id == entity_id)
    ).scalar_one_or_none()
    restricted = session.execute(
        select(func.count())
        .select_from(ModerationItem)
        .where(
            ModerationItem.entity_id == entity_id,
            ModerationItem.state.in_(["restricted", "removed", "suspended"]),
        )
    ).scalar_one()
    reported = session.execute(
        select(func.count()).select_from(ReportCase).where(ReportCase.entity_id == entity_id)
    ).scalar_one()
    return {
        "title": entity.title if entity else entity_id,
        "since": entity.published_at.date().isoformat() if entity else None,
        "members": entity.member_count if entity else None,
        "restricted_items": int(restricted),
        "report_cases": int(reported),
    }

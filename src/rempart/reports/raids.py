"""Raid detection: telling coordinated mass reporting from many genuine people reporting.

Volume says nothing by itself: a viral scam draws hundreds of honest notices. What gives a
raid away is coordination, so each signal measures one kind of it, from 0 to 1:
- fresh: reporting accounts that are days old or have never connected;
- burst: notices packed into one ten-minute window;
- shared_network: reporters behind the same network prefixes (compared through keyed
  hashes of the prefixes, never clear addresses);
- created_together: reporting accounts created within the same hour;
- near_identical: explanations that are copies of one another, give or take a few words.
Their weighted sum is the coordination score; the target's own standing (an old entity with
no past violation) raises it, a target already found violating lowers it. A case at or above
``raid_threshold`` is marked as a suspected raid, for a moderator to look at; nothing is
restricted or kept up because of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import as_utc
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.platform.models import Entity
from rempart.reports import cases
from rempart.reports.models import Report, ReportCase

WEIGHTS = {
    "fresh": 0.3,
    "burst": 0.15,
    "shared_network": 0.2,
    "created_together": 0.15,
    "near_identical": 0.2,
}
MIN_REPORTS = 10  # below this, no pattern means anything
BURST_WINDOW = timedelta(minutes=10)
CREATION_WINDOW = timedelta(hours=1)
NEAR_IDENTICAL_BITS = 6
LATEST = 1000  # the most recent notices of a case are enough to see a pattern


def _densest_share(times: list[datetime], window: timedelta) -> float:
    """The largest share of ``times`` that fits in one ``window``."""
    if not times:
        return 0.0
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best / len(times)


def _near_identical_share(hashes: list[int]) -> float:
    if len(hashes) < 2:
        return 0.0
    unsigned = [h & (2**64 - 1) for h in hashes]
    close = 0
    for i, value in enumerate(unsigned):
        if any(
            (value ^ other).bit_count() <= NEAR_IDENTICAL_BITS
            for j, other in enumerate(unsigned)
            if j != i
        ):
            close += 1
    return close / len(unsigned)


def signals(reports: list[Report]) -> dict[str, float]:
    if len(reports) < MIN_REPORTS:
        return dict.fromkeys(WEIGHTS, 0.0)
    accounts = [r for r in reports if r.channel in ("platform", "bot")]
    fresh = [
        r
        for r in accounts
        if not r.account_connections
        or r.account_created_at is None
        or as_utc(r.created_at) - as_utc(r.account_created_at) < cases.FRESH_ACCOUNT
    ]
    networks = [r.network_index for r in reports if r.network_index is not None]
    created = [as_utc(r.account_created_at) for r in accounts if r.account_created_at]
    return {
        "fresh": len(fresh) / len(accounts) if accounts else 0.0,
        "burst": _densest_share([as_utc(r.created_at) for r in reports], BURST_WINDOW),
        "shared_network": 1 - len(set(networks)) / len(networks) if len(networks) > 1 else 0.0,
        "created_together": (
            _densest_share(created, CREATION_WINDOW) if len(created) >= MIN_REPORTS else 0.0
        ),
        "near_identical": _near_identical_share([r.text_simhash for r in reports[:300]]),
    }


def standing(session: Session, case: ReportCase, now: datetime) -> float:
    """1 for an established target with a clean record, 0 for one already found violating."""
    entity = session.execute(
        select(Entity).where(Entity.entity_id == case.entity_id)
    ).scalar_one_or_none()
    violations = session.execute(
        select(func.count())
        .select_from(ModerationDecision)
        .join(ModerationItem, ModerationItem.id == ModerationDecision.item_id)
        .where(
            ModerationItem.entity_id == case.entity_id,
            ModerationDecision.action != "no_violation",
        )
    ).scalar_one()
    item = session.get(ModerationItem, case.item_id)
    flagged = item is not None and item.queue_reason in ("auto_review", "auto_restrict")
    if violations or flagged:
        return 0.0
    if entity is None or now - as_utc(entity.published_at) < timedelta(days=30):
        return 0.5
    return 1.0


def assess(session: Session, settings: Settings, *, case: ReportCase, now: datetime) -> None:
    reports = list(
        session.execute(
            select(Report).where(Report.case_id == case.id).order_by(Report.id.desc()).limit(LATEST)
        ).scalars()
    )
    found = signals(reports)
    coordination = sum(WEIGHTS[name] * value for name, value in found.items())
    target_standing = standing(session, case, now)
    score = round(coordination * (0.5 + 0.5 * target_standing), 4)
    was_suspected = case.raid_suspected
    case.raid_score = score
    case.raid_signals = {
        **{k: round(v, 3) for k, v in found.items()},
        "standing": target_standing,
    }
    case.raid_suspected = score >= settings.raid_threshold
    case.assessed_at = now
    cases.place_in_queue(session, case, now)
    if case.raid_suspected and not was_suspected:
        audit.record(
            session,
            actor="system:reports",
            action="reports.raid.suspected",
            target=f"{case.target_kind}:{case.target_ref}",
            details={"case": case.id, "score": score, "signals": case.raid_signals},
        )

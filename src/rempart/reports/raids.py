"""Raid detection: telling coordinated mass reporting from many genuine people reporting.

Volume says nothing by itself: a viral scam or a news event draws hundreds of honest
notices. What gives a raid away is coordination, so each signal measures one kind of it,
from 0 to 1:
- thin_accounts: reporting accounts that were made for the purpose: never or barely
  active (sleepers, however old), or days old; an active new account counts a little
  (a new community reacting to real abuse is not a raid);
- shared_network: notices behind the same network prefixes (keyed hashes of /24 or /48,
  never clear addresses); a carrier's shared address (CGNAT) does this too, so it never
  decides alone;
- crowded_networks: the notices on crowded networks other than the most crowded one. One
  crowded network is one place (a carrier's shared address, a campus); several, each
  carrying a crowd, is what a raid spread over proxies looks like;
- near_identical: explanations that are copies of one another, give or take a few words;
- scripted_emails: web-form notices whose email domain and local-part shape
  ("jean.dupont84" -> "a4.a692"), compared as keyed hashes, repeat;
- co_reporting: reporters who have reported other targets together before (the
  co-reporting graph, kept as pseudonymous reporter ids behind keyed identity hashes);
- burst: notices packed into one ten-minute window (weak: news events burst too);
- steady_pace: notices arriving at an even pace for half an hour or more, as a campaign
  sends them, where people reacting to something they saw come in a wave that fades (a
  genuine trickle is steady too, so it never decides alone);
- unsupported_claims: a severe category claimed against an item the hash banks and the
  classifier scanned and found clean of it, by reporters nobody can vouch for (no upheld notice,
  no established account); genuine outrage at what the machines miss does this too, so it
  never decides alone either. Child sexual abuse is left out: new material is in no hash
  bank, and people report it before any machine knows it.
Their weighted sum, capped at 1, is the coordination score. The target weighs it: an
established item with a clean record keeps it whole; when hash matches or the classifier
agree with the notices, or the entity was already found violating, the burst is much more
likely genuine and the score is cut. A case at or above ``raid_threshold`` is marked as a
suspected raid, for a moderator to look at; nothing is restricted or kept up because of it.

Each notice is also marked ``coordinated`` when it belongs to the pattern: its account is
thin, or it shares a network or a script with others and says what they say, or its
reporter is in a co-reporting ring. A credible reporter outside the pattern keeps their
weight in a marked case, and "manifestly unfounded" reaches the coordinated notices only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import as_utc
from rempart.core.settings import Settings
from rempart.moderation import reasons
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.platform.models import Entity
from rempart.reports import cases
from rempart.reports import events as reports_events
from rempart.reports.models import Report, ReportCase, Reporter

WEIGHTS = {
    "thin_accounts": 0.6,
    "shared_network": 0.15,
    "crowded_networks": 0.15,
    "near_identical": 0.3,
    "scripted_emails": 0.3,
    "co_reporting": 0.7,
    "burst": 0.1,
    "steady_pace": 0.2,
    "unsupported_claims": 0.2,
}
MIN_REPORTS = 10  # below this, no pattern means anything
BURST_WINDOW = timedelta(minutes=10)
NEAR_IDENTICAL_BITS = 6
LATEST = 1000  # the most recent notices of a case are enough to see a pattern
# An account this quiet (connections in the last 90 days) and this young was not used for
# anything but reporting.
THIN_CONNECTIONS = 3
THIN_AGE = timedelta(days=180)
# Reporters who reported another target together, at least this many of them (or a tenth
# of the case's reporters), form a ring.
RING_MIN = 5
# Shorter than this, a case's notices are one burst: their pace says nothing.
PACE_SPAN = timedelta(minutes=30)
# A category this severe, claimed against what the machines found clean, needs reporters
# someone can vouch for.
SEVERE = 4
MACHINES = ("hash", "classifier", "rules")
# New child abuse material is in no hash bank yet, and it is what people report first: the
# machines' silence says nothing about it.
MACHINES_BLIND = ("csam_indicators",)
CLEAN_BELOW = 0.25  # no machine signal at or above this: the item scanned clean
AGREE_FROM = 0.5  # a machine signal at or above this agrees with the notices


class NoticeFacts(NamedTuple):
    """What raid detection reads of a notice: its columns, without the ORM's object (a
    case's latest thousand notices are read for every slice that files into it)."""

    id: int
    case_id: int | None
    reporter_id: int | None
    channel: str
    created_at: datetime
    account_created_at: datetime | None
    account_connections: int | None
    network_index: bytes | None
    text_simhash: int
    email_domain_index: bytes | None
    email_shape_index: bytes | None
    coordinated: bool
    weight: float | None


_FACTS = (
    Report.id,
    Report.case_id,
    Report.reporter_id,
    Report.channel,
    Report.created_at,
    Report.account_created_at,
    Report.account_connections,
    Report.network_index,
    Report.text_simhash,
    Report.email_domain_index,
    Report.email_shape_index,
    Report.coordinated,
    Report.weight,
)


def account_suspicion(report: NoticeFacts) -> float:
    """0 to 1 for a platform user's notice: how likely its account exists to report."""
    if report.channel not in ("platform", "bot"):
        return 0.0
    if not report.account_connections or report.account_created_at is None:
        return 1.0
    age = as_utc(report.created_at) - as_utc(report.account_created_at)
    if report.account_connections <= THIN_CONNECTIONS and age < THIN_AGE:
        return 1.0
    return 0.3 if age < cases.FRESH_ACCOUNT else 0.0


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


def _steady_pace(times: list[datetime]) -> float:
    """1 when notices came at an even pace over the case's span, 0 when most came in a
    first wave that faded. Kolmogorov-Smirnov distance between the arrival times and an
    even spread: about 0.1 for a steady stream of 100, 0.4 and more for a fading wave."""
    if len(times) < MIN_REPORTS:
        return 0.0
    times = sorted(times)
    span = times[-1] - times[0]
    if span < PACE_SPAN:
        return 0.0
    count = len(times)
    distance = 0.0
    for i, moment in enumerate(times):
        position = (moment - times[0]) / span
        distance = max(distance, (i + 1) / count - position, position - i / count)
    return min(1.0, max(0.0, (0.4 - distance) / 0.25))


def _scanned_clean(item: ModerationItem | None, category: str) -> bool:
    """Whether the hash banks and the classifier looked at the item and saw nothing of the
    claimed category. A doubt about another one (a lawful channel queued as possible spam)
    says nothing of a terrorism claim; an automated restriction, whatever its category,
    does not count as clean."""
    return (
        item is not None
        and bool(item.content_digest)
        and not _restricted_by_machine(item)
        and _machine_score(item, category) < CLEAN_BELOW
    )


def _restricted_by_machine(item: ModerationItem) -> bool:
    return "auto_restrict" in reasons.active(item)


def _machine_score(item: ModerationItem, category: str | None = None) -> float:
    """The highest score the hash banks, rules or classifier gave the item (in ``category``
    when given)."""
    return max(
        (
            float(s.get("score", 0))
            for s in item.signals
            if s.get("source") in MACHINES and category in (None, s.get("category"))
        ),
        default=0.0,
    )


def _unsupported_claims(
    session: Session, case: ReportCase, reports: Sequence[NoticeFacts]
) -> float:
    """The share of notices claiming a severe category against an item that scanned clean,
    sent by reporters with no upheld notice, no trusted-flagger status and no established
    account."""
    if cases.severity(case.category) < SEVERE or case.category in MACHINES_BLIND:
        return 0.0
    if not _scanned_clean(session.get(ModerationItem, case.item_id), case.category):
        return 0.0
    reporter_ids = {r.reporter_id for r in reports if r.reporter_id is not None}
    vouched = set(
        session.execute(
            select(Reporter.id).where(
                Reporter.id.in_(reporter_ids),
                or_(Reporter.upheld > 0, Reporter.kind == "flagger"),
            )
        ).scalars()
    )

    unknown = [
        r
        for r in reports
        if r.reporter_id not in vouched
        and r.channel != "flagger"
        and not cases.established_account(
            created_at=r.created_at,
            account_created_at=r.account_created_at,
            connections=r.account_connections,
        )
    ]
    return len(unknown) / len(reports)


def _near_identical(reports: Sequence[NoticeFacts]) -> set[int]:
    """Ids of the notices whose explanation is a near copy of another's."""
    unsigned = [(r.id, r.text_simhash & (2**64 - 1)) for r in reports[:400]]
    close: set[int] = set()
    for i, (rid, value) in enumerate(unsigned):
        for j in range(i + 1, len(unsigned)):
            other_id, other = unsigned[j]
            if (value ^ other).bit_count() <= NEAR_IDENTICAL_BITS:
                close.add(rid)
                close.add(other_id)
    return close


def _repeated(keys: list[tuple[int, bytes | None]], minimum: int) -> set[int]:
    """Ids whose key is shared by at least ``minimum`` notices."""
    counts = Counter(k for _, k in keys if k is not None)
    return {rid for rid, k in keys if k is not None and counts[k] >= minimum}


def _ring(session: Session, case: ReportCase, reports: Sequence[NoticeFacts]) -> set[int]:
    """Reporters of this case who reported other targets together with others of it."""
    reporter_ids = {r.reporter_id for r in reports if r.reporter_id is not None}
    if len(reporter_ids) < RING_MIN:
        return set()
    together: dict[int, set[int]] = defaultdict(set)
    for other_case, reporter_id in session.execute(
        select(Report.case_id, Report.reporter_id)
        .where(
            Report.reporter_id.in_(reporter_ids),
            Report.case_id.is_not(None),
            Report.case_id != case.id,
        )
        .distinct()
    ):
        if other_case is not None and reporter_id is not None:
            together[other_case].add(reporter_id)
    minimum = max(RING_MIN, len(reporter_ids) // 10)
    ring: set[int] = set()
    for members in together.values():
        if len(members) >= minimum:
            ring.update(members)
    return ring


def signals(
    session: Session, *, case: ReportCase, reports: Sequence[NoticeFacts]
) -> tuple[dict[str, float], set[int]]:
    """The case's signals, and the ids of the notices in the coordinated pattern."""
    if len(reports) < MIN_REPORTS:
        return dict.fromkeys(WEIGHTS, 0.0), set()
    accounts = [r for r in reports if r.channel in ("platform", "bot")]
    suspicion = {r.id: account_suspicion(r) for r in accounts}
    copies = _near_identical(reports)
    network_floor = max(3, len(reports) // 50)
    shared = _repeated([(r.id, r.network_index) for r in reports], network_floor)
    networks = [r.network_index for r in reports if r.network_index is not None]
    crowds = sorted((n for n in Counter(networks).values() if n >= network_floor), reverse=True)
    web = [r for r in reports if r.channel == "web" and r.email_shape_index is not None]
    script_floor = max(3, len(web) // 10)
    scripted = _repeated(
        [(r.id, (r.email_domain_index or b"") + (r.email_shape_index or b"")) for r in web],
        script_floor,
    )
    ring = _ring(session, case, reports)
    found = {
        "thin_accounts": sum(suspicion.values()) / len(accounts) if accounts else 0.0,
        "shared_network": 1 - len(set(networks)) / len(networks) if len(networks) > 1 else 0.0,
        "crowded_networks": sum(crowds[1:]) / len(networks) if networks else 0.0,
        "near_identical": len(copies & {r.id for r in reports[:400]}) / min(len(reports), 400),
        "scripted_emails": len(scripted) / len(web) if len(web) >= MIN_REPORTS else 0.0,
        "co_reporting": (
            len([r for r in reports if r.reporter_id in ring]) / len(reports) if ring else 0.0
        ),
        "burst": _densest_share([as_utc(r.created_at) for r in reports], BURST_WINDOW),
        "steady_pace": _steady_pace([as_utc(r.created_at) for r in reports]),
        "unsupported_claims": _unsupported_claims(session, case, reports),
    }
    coordinated = {
        r.id
        for r in reports
        if suspicion.get(r.id, 0.0) >= 1.0
        or r.reporter_id in ring
        or (r.id in copies and (r.id in shared or r.id in scripted))
        or (r.id in shared and r.id in scripted)
    }
    return found, coordinated


def target_factor(session: Session, *, case: ReportCase, now: datetime) -> float:
    """1 for an established target with a clean record; lower when machines agree with
    the notices or the entity was already found violating."""
    return Context.load(session, [case]).target_factor(case, now)


def _target_factor(
    *, violations: int, item: ModerationItem | None, entity: Entity | None, now: datetime
) -> float:
    # Only a confident finding agrees: the review band (auto_review) is set for recall, so
    # a machine's doubt, often about another category than the notices claim, would let
    # any raid on a target the classifier hesitates over cut its own score.
    agree = item is not None and (
        _restricted_by_machine(item) or _machine_score(item) >= AGREE_FROM
    )
    if violations or agree:
        return 0.4
    if entity is None or now - as_utc(entity.published_at) < timedelta(days=30):
        return 0.8
    return 1.0


@dataclass
class Context:
    """What assessing a slice's cases reads, in a few queries for all of them: each case's
    latest notices, the records of their reporters, the items, the entities and their
    past violations."""

    latest: dict[int, list[NoticeFacts]]
    complete: set[int]  # cases whose every notice is in ``latest``
    reporters: dict[int, tuple[int, str]]  # id: (upheld, kind)
    items: dict[int, ModerationItem]
    entities: dict[str, Entity]
    violations: dict[str, int]

    @classmethod
    def load(cls, session: Session, batch: list[ReportCase]) -> Context:
        latest: dict[int, list[NoticeFacts]] = defaultdict(list)
        # Cases of up to LATEST notices in one query; larger ones by their latest.
        small = [c.id for c in batch if c.reports <= LATEST]
        for row in session.execute(
            select(*_FACTS).where(Report.case_id.in_(small)).order_by(Report.id.desc())
        ):
            facts = NoticeFacts._make(row)
            if facts.case_id is not None:
                latest[facts.case_id].append(facts)
        complete = {i for i in small if len(latest[i]) <= LATEST}
        for case in batch:
            if case.id not in complete:
                latest[case.id] = [
                    NoticeFacts._make(row)
                    for row in session.execute(
                        select(*_FACTS)
                        .where(Report.case_id == case.id)
                        .order_by(Report.id.desc())
                        .limit(LATEST)
                    )
                ]
        reporter_ids = {r.reporter_id for rs in latest.values() for r in rs if r.reporter_id}
        reporters = {
            rid: (int(upheld or 0), str(kind))
            for rid, upheld, kind in session.execute(
                select(Reporter.id, Reporter.upheld, Reporter.kind).where(
                    Reporter.id.in_(reporter_ids)
                )
            )
        }
        items = {
            item.id: item
            for item in session.execute(
                select(ModerationItem).where(ModerationItem.id.in_({c.item_id for c in batch}))
            ).scalars()
        }
        entity_ids = {c.entity_id for c in batch}
        entities = {
            e.entity_id: e
            for e in session.execute(
                select(Entity).where(Entity.entity_id.in_(entity_ids))
            ).scalars()
        }
        violations = {
            str(entity_id): int(count)
            for entity_id, count in session.execute(
                select(ModerationItem.entity_id, func.count())
                .select_from(ModerationDecision)
                .join(ModerationItem, ModerationItem.id == ModerationDecision.item_id)
                .where(
                    ModerationItem.entity_id.in_(entity_ids),
                    ModerationDecision.action != "no_violation",
                )
                .group_by(ModerationItem.entity_id)
            )
        }
        return cls(latest, complete, reporters, items, entities, violations)

    def target_factor(self, case: ReportCase, now: datetime) -> float:
        return _target_factor(
            violations=self.violations.get(case.entity_id, 0),
            item=self.items.get(case.item_id),
            entity=self.entities.get(case.entity_id),
            now=now,
        )

    def credible_weight(
        self, session: Session, case: ReportCase, coordinated: dict[int, bool]
    ) -> float:
        """``cases.credible_weight``, from the notices read when they are all of the case's
        (``coordinated``: what assessment has just marked)."""
        if case.id not in self.complete:
            return cases.credible_weight(session, case=case)
        return cases.weigh_credible(
            case,
            [
                (
                    r.reporter_id,
                    r.weight,
                    r.created_at,
                    r.account_created_at,
                    r.account_connections,
                    *self.reporters.get(r.reporter_id or 0, (None, None)),
                )
                for r in self.latest[case.id]
                if not coordinated.get(r.id, r.coordinated)
                and r.weight is not None
                and r.weight >= cases.CREDIBLE
            ],
        )


def contributions(case: ReportCase) -> list[tuple[str, float, float, float]]:
    """(signal, value, weight, share of the score) for a moderator to read."""
    factor = float(case.raid_signals.get("target_factor", 1.0))
    return [
        (name, float(case.raid_signals.get(name, 0.0)), weight, 0.0)
        if name not in case.raid_signals
        else (
            name,
            float(case.raid_signals[name]),
            weight,
            round(weight * float(case.raid_signals[name]) * factor, 4),
        )
        for name, weight in WEIGHTS.items()
    ]


def assess(
    session: Session,
    *,
    settings: Settings,
    case: ReportCase,
    now: datetime,
    context: Context | None = None,
) -> None:
    """Score the case's coordination, mark it and its coordinated notices, weigh its
    credible reporters and place it in the queue. ``context``: what was read for the whole
    slice of cases (``Context.load``), read for this case alone when not given."""
    if context is None:
        context = Context.load(session, [case])
    reports = context.latest[case.id]
    found, coordinated = signals(session, case=case, reports=reports)
    coordination = min(1.0, sum(WEIGHTS[name] * value for name, value in found.items()))
    factor = context.target_factor(case, now)
    score = round(coordination * factor, 4)
    was_suspected = case.raid_suspected
    case.raid_score = score
    case.raid_signals = {
        **{k: round(v, 3) for k, v in found.items()},
        "target_factor": factor,
    }
    case.raid_suspected = score >= settings.raid_threshold
    case.assessed_at = now
    marks = {r.id: case.raid_suspected and r.id in coordinated for r in reports}
    for mark in (True, False):
        changed = [r.id for r in reports if marks[r.id] is mark and r.coordinated is not mark]
        if changed:
            session.execute(
                update(Report)
                .where(Report.id.in_(changed))
                .values(coordinated=mark)
                .execution_options(synchronize_session=False)
            )
    # What credible reporters outside the pattern weigh: they keep it in a marked case.
    case.credible_reporters = context.credible_weight(session, case, marks)
    cases.place_in_queue(session, case=case, now=now)
    if case.raid_suspected and not was_suspected:
        audit.record(
            session,
            reports_events.RaidSuspected(case=case.id, score=score, signals=case.raid_signals),
            actor="system:reports",
            target=f"{case.target_kind}:{case.target_ref}",
        )

"""Transparency figures, computed from audit log entries and nothing else.

The same code runs when a report is made, when ``transparency verify`` recomputes it from
the log, and when anyone recomputes it from the report's public dataset with the
standalone verifier: this module depends on the standard library only, and
``verify_report.py`` carries a copy of it (``make verifier`` writes it; a test checks the
copy is current). Entries are the parsed bodies, read in log order; only the actions
named in ``RELEVANT`` count.

Each figure has one definition. An order's outcome (``outcome``) is exactly one of
fulfilled, partially fulfilled, refused, withdrawn or pending, and the per-country table,
the trend and the public lookup all count those outcomes. Users affected are distinct
users (``Order.users``), never a sum of accounts per disclosure.

Small counts are suppressed deterministically (``suppress``): a count from 1 to
``SUPPRESS_BELOW - 1`` is published as ``"<5"``, and a median or a rate over fewer than
``SUPPRESS_BELOW`` cases as ``null``, so that no figure points at a person.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, cast

# The format of the reports these figures are published in. Format 4 changed definitions
# (see ``dsa``): a report is always recomputed with the definitions of its own format.
FORMAT_VERSION = 4
SUPPRESS_BELOW = 5
SUPPRESSED = f"<{SUPPRESS_BELOW}"
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# Orders against content (DSA Art. 9). Rempart's authorities send orders to provide
# information (Art. 10); an order of one of these types would be counted apart.
ORDER_TYPES_TO_ACT = frozenset({"act", "removal"})
RELEVANT: tuple[str, ...] = (
    "legal.order.received",
    "legal.order.checked",
    "legal.order.reviewed",
    "legal.order.decided",
    "legal.order.withdrawn",
    "legal.order.emergency_not_confirmed",
    "legal.disclosure.released",
    "legal.order.acted",
    "moderation.decision",
    "moderation.item.restricted",
    "reports.received",
    "escalations.notification.sent",
    "hotline.report.sent",
    "reports.raid.suspected",
    "reports.appeal.filed",
    "reports.appeal.decided",
    "reports.dispute.submitted",
    "reports.dispute.decided",
    "reports.reporter_warning",
    "reports.reporter_suspended",
    "reports.account_warning",
    "reports.account_suspended",
    "reports.complainant_warning",
    "reports.complainant_suspended",
    "platform.active_recipients",
)
TREND_QUARTERS = 8


# -- what the figures read of each entry's details ---------------------------------------
# The keys below are the fields of the domains' audit events (``rempart.*.events``) that
# the figures read; mypy checks every read against them, and a test checks them against
# the events' models, so a renamed field fails there rather than publishing a 0. (This
# module stays standard-library only: the standalone verifier carries a copy.)


class NoDetails(TypedDict, total=False):
    """An action counted by its entries alone."""


class OrderReceivedDetails(TypedDict, total=False):
    order_type: str
    offence_category: str
    categories: list[str]
    emergency: bool


class OrderStatusDetails(TypedDict, total=False):
    """``legal.order.checked`` and ``legal.order.decided``."""

    status: str
    category_outcomes: dict[str, str]


class DisclosureDetails(TypedDict, total=False):
    accounts: int
    users: list[str]  # keyed references; entries older than them name none


class DecisionDetails(TypedDict, total=False):
    action: str  # the restriction decided
    category: str
    ground_type: str
    automation: str


class RestrictionDetails(TypedDict, total=False):
    category: str
    ground_type: str


class NoticesDetails(TypedDict, total=False):
    by_category: dict[str, int]
    by_channel: dict[str, int]
    flagger_by_category: dict[str, int]  # entries older than it name none


class ThreatNotificationDetails(TypedDict, total=False):
    member_state: str
    hours_to_send: float


class AppealFiledDetails(TypedDict, total=False):
    appeal: str
    party: str


class AppealDecidedDetails(TypedDict, total=False):
    appeal: str
    outcome: str
    # Entries older than one per appeal named a batch: every appeal one decision answered
    # (the first 100) and how many of them had each outcome. Counted from format 4.
    appeals: list[str]
    outcomes: dict[str, int]


class DisputeSubmittedDetails(TypedDict, total=False):
    dispute: str


class DisputeDecidedDetails(TypedDict, total=False):
    dispute: str
    outcome: str
    implemented: bool


class RecipientsDetails(TypedDict, total=False):
    month: str
    recipients: int


DETAILS: dict[str, type] = {
    "legal.order.received": OrderReceivedDetails,
    "legal.order.checked": OrderStatusDetails,
    "legal.order.reviewed": NoDetails,
    "legal.order.decided": OrderStatusDetails,
    "legal.order.withdrawn": NoDetails,
    "legal.order.emergency_not_confirmed": NoDetails,
    "legal.disclosure.released": DisclosureDetails,
    "legal.order.acted": NoDetails,
    "moderation.decision": DecisionDetails,
    "moderation.item.restricted": RestrictionDetails,
    "reports.received": NoticesDetails,
    "escalations.notification.sent": ThreatNotificationDetails,
    "hotline.report.sent": NoDetails,
    "reports.raid.suspected": NoDetails,
    "reports.appeal.filed": AppealFiledDetails,
    "reports.appeal.decided": AppealDecidedDetails,
    "reports.dispute.submitted": DisputeSubmittedDetails,
    "reports.dispute.decided": DisputeDecidedDetails,
    "reports.reporter_warning": NoDetails,
    "reports.reporter_suspended": NoDetails,
    "reports.account_warning": NoDetails,
    "reports.account_suspended": NoDetails,
    "reports.complainant_warning": NoDetails,
    "reports.complainant_suspended": NoDetails,
    "platform.active_recipients": RecipientsDetails,
}
# What each report reads: the lawful-disclosure report needs only the legal entries.
RELEVANT_FOR = {
    "lawful_disclosure": tuple(a for a in RELEVANT if a.startswith("legal.")),
    "dsa": RELEVANT,
}
OUTCOMES = ("fulfilled", "partially_fulfilled", "refused", "withdrawn", "pending")

# -- periods ---------------------------------------------------------------------------

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-Q(?P<quarter>[1-4]))?$")


@dataclass(frozen=True)
class Period:
    """A quarter (``2026-Q3``) or a year (``2026``), as a UTC half-open range."""

    name: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def quarter(year: int, number: int) -> Period:
    start = datetime(year, 3 * number - 2, 1, tzinfo=UTC)
    end = datetime(year + number // 4, (3 * number) % 12 + 1, 1, tzinfo=UTC)
    return Period(f"{year}-Q{number}", start, end)


def parse_period(text: str) -> Period:
    """Raises ``ValueError`` on anything but a quarter or a year between 2000 and 2100."""
    match = _PERIOD.match(text.strip())
    if match is None or not 2000 <= int(match["year"]) <= 2100:
        raise ValueError("A period is a quarter like 2026-Q3 or a year like 2026.")
    year = int(match["year"])
    if match["quarter"]:
        return quarter(year, int(match["quarter"]))
    return Period(str(year), datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))


def quarter_of(moment: datetime) -> Period:
    return quarter(moment.year, (moment.month - 1) // 3 + 1)


def previous_quarters(period: Period, count: int) -> list[Period]:
    """The ``count`` quarters ending with the one ``period`` ends in, oldest first."""
    current = quarter_of(period.end - timedelta(microseconds=1))
    quarters = [current]
    while len(quarters) < count:
        quarters.append(quarter_of(quarters[-1].start - timedelta(days=1)))
    return quarters[::-1]


def window_start(kind: str, period: Period) -> datetime:
    """The first moment whose entries a report reads. Every figure is anchored to an event
    inside the window (an order received, a notice, a complaint filed…), so the entries
    from here to the head give the same figures as the whole log."""
    if kind == "lawful_disclosure":
        return min(period.start, previous_quarters(period, TREND_QUARTERS)[0].start)
    return period.start


# -- reading the log -------------------------------------------------------------------


def entry_time(body: dict[str, Any]) -> datetime:
    return datetime.strptime(str(body["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass
class Order:
    country: str
    received: datetime
    order_type: str
    offence: str
    categories: list[str]
    emergency: bool
    acknowledged: datetime | None = None
    status: str = "received"
    category_outcomes: dict[str, str] = field(default_factory=dict)
    effected: datetime | None = None
    # Distinct users whose data was disclosed (keyed references, never user ids).
    users: set[str] = field(default_factory=set)
    # Released on one review, then not backed by the second review or the validation.
    not_confirmed: bool = False

    @property
    def outcome(self) -> str:
        """The one definition of an order's outcome, used by every table and trend."""
        if self.effected is not None:
            return "partially_fulfilled" if self.status == "partially_approved" else "fulfilled"
        if self.status in ("refused", "checks_failed"):
            return "refused"
        if self.status == "withdrawn":
            return "withdrawn"
        return "pending"


@dataclass
class _Appeal:
    filed: datetime
    party: str = "unspecified"  # owner (against a restriction) | reporter (against a refusal)
    decided: datetime | None = None
    outcome: str | None = None
    # Answered in a batch entry (the old shape): its outcome when the batch had only one.
    batch_decided: datetime | None = None
    batch_outcome: str | None = None


@dataclass
class Log:
    """What the relevant entries say, accumulated in log order."""

    orders: dict[str, Order] = field(default_factory=dict)
    # Orders to act and removal orders: counted in the DSA report, never among the
    # lawful-disclosure (information) orders.
    orders_to_act: dict[str, Order] = field(default_factory=dict)
    appeals: dict[str, _Appeal] = field(default_factory=dict)
    events: list[tuple[datetime, str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, body: dict[str, Any]) -> None:
        action = body.get("action")
        if action not in RELEVANT:
            return
        when = entry_time(body)
        details = body.get("details") or {}
        target = str(body.get("target") or "")
        if action == "legal.order.received":
            intake = cast(OrderReceivedDetails, details)
            received = Order(
                country=str(body.get("country") or "??"),
                received=when,
                order_type=str(intake.get("order_type", "unspecified")),
                offence=str(intake.get("offence_category", "unspecified")),
                categories=[str(c) for c in intake.get("categories", [])],
                emergency=bool(intake.get("emergency")),
            )
            if received.order_type in ORDER_TYPES_TO_ACT:
                # Receipt is acknowledged in the answer to the submission itself.
                received.acknowledged = when
                self.orders_to_act[target] = received
            else:
                self.orders[target] = received
            return
        order = self.orders.get(target) or self.orders_to_act.get(target)
        if action.startswith("legal."):
            if order is not None:
                self._legal(order, action, when, details, body)
            return
        if action == "reports.appeal.filed":
            filed = cast(AppealFiledDetails, details)
            party = str(filed.get("party", "unspecified"))
            self.appeals[str(filed.get("appeal"))] = _Appeal(filed=when, party=party)
        elif action == "reports.appeal.decided":
            answered = cast(AppealDecidedDetails, details)
            appeal = self.appeals.get(str(answered.get("appeal")))
            if appeal is not None:
                appeal.decided, appeal.outcome = when, str(answered.get("outcome"))
            batch = answered.get("appeals")
            if answered.get("appeal") is None and isinstance(batch, list):
                self._batch_decided(batch, answered.get("outcomes"), when)
        self.events.append((when, str(action), target, details))

    def _batch_decided(self, batch: list[str], outcomes: Any, when: datetime) -> None:
        """A batch entry: one decision answered every appeal it names, and each appeal's
        outcome is upheld or reversed against the same decision, so one outcome counted
        in ``outcomes`` is every appeal's. A batch of mixed outcomes (never written: the
        appeals of one decision contest the same decision) leaves them unknown."""
        counted = (
            [str(k) for k, v in (outcomes or {}).items() if v] if isinstance(outcomes, dict) else []
        )
        for name in batch:
            appeal = self.appeals.get(str(name))
            if appeal is not None and appeal.batch_decided is None:
                appeal.batch_decided = when
                appeal.batch_outcome = counted[0] if len(counted) == 1 else None

    def appeals_as(self, version: int) -> dict[str, _Appeal]:
        """The appeals as a report of this format counts them: from format 4, those
        answered in an old batch entry are decided too."""
        if version < 4:
            return self.appeals
        return {
            name: _Appeal(
                filed=a.filed,
                party=a.party,
                decided=a.decided or a.batch_decided,
                outcome=a.outcome if a.decided else a.batch_outcome,
            )
            for name, a in self.appeals.items()
        }

    @staticmethod
    def _legal(
        order: Order, action: str, when: datetime, details: dict[str, Any], body: dict[str, Any]
    ) -> None:
        if action == "legal.order.reviewed" and order.acknowledged is None:
            order.acknowledged = when
        elif action in ("legal.order.checked", "legal.order.decided"):
            decided = cast(OrderStatusDetails, details)
            order.status = str(decided.get("status", order.status))
            order.category_outcomes.update(decided.get("category_outcomes") or {})
        elif action == "legal.order.withdrawn":
            order.status = "withdrawn"
        elif action == "legal.order.emergency_not_confirmed":
            order.not_confirmed = True
        elif action == "legal.order.acted":
            order.effected = order.effected or when
            order.status = "acted"
        elif action == "legal.disclosure.released":
            order.effected = order.effected or when
            released = cast(DisclosureDetails, details)
            users = released.get("users")
            if isinstance(users, list):
                order.users.update(str(u) for u in users)
            else:
                # Entries written before users were recorded name none: each account of
                # such a disclosure counts as a user of its own.
                order.users.update(
                    f"{body.get('seq')}#{i}" for i in range(int(released.get("accounts", 0)))
                )


# -- figures ---------------------------------------------------------------------------


def _hours(pairs: list[tuple[datetime, datetime | None]]) -> float | None:
    spans = [(end - start).total_seconds() / 3600 for start, end in pairs if end is not None]
    if len(spans) < SUPPRESS_BELOW:
        return None
    return round(statistics.median(spans), 1)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole >= SUPPRESS_BELOW else None


def users_affected(orders: list[Order]) -> int:
    return len(
        {u for o in orders if o.outcome in ("fulfilled", "partially_fulfilled") for u in o.users}
    )


def outcome_counts(orders: list[Order]) -> dict[str, int]:
    counts = Counter(o.outcome for o in orders)
    return {name: counts[name] for name in OUTCOMES}


def _order_figures(orders: list[Order]) -> dict[str, Any]:
    disclosed = [o for o in orders if o.effected is not None]
    requested: Counter[str] = Counter(c for o in orders for c in o.categories)
    given: Counter[str] = Counter(
        c for o in disclosed for c, status in o.category_outcomes.items() if status == "approved"
    )
    return {
        "orders_received": len(orders),
        **outcome_counts(orders),
        "users_affected": users_affected(orders),
        "emergency": sum(1 for o in orders if o.emergency),
        "emergency_not_confirmed": sum(1 for o in orders if o.not_confirmed),
        "normal": sum(1 for o in orders if not o.emergency),
        "by_data_category": {
            c: {"requested": requested[c], "disclosed": given[c]} for c in sorted(requested)
        },
        "by_offence": dict(sorted(Counter(o.offence for o in orders).items())),
        "by_order_type": dict(sorted(Counter(o.order_type for o in orders).items())),
        "median_hours_to_acknowledge": _hours([(o.received, o.acknowledged) for o in orders]),
        "median_hours_to_effect": _hours([(o.received, o.effected) for o in disclosed]),
    }


def quarter_row(orders: list[Order], name: str) -> dict[str, Any]:
    """One quarter of the trend, and of the public per-country lookup."""
    counts = outcome_counts(orders)
    return {
        "period": name,
        "orders_received": len(orders),
        "fulfilled": counts["fulfilled"],
        "partially_fulfilled": counts["partially_fulfilled"],
        "refused": counts["refused"],
        "users_affected": users_affected(orders),
    }


def lawful_disclosure(log: Log, period: Period) -> dict[str, Any]:
    in_period = [o for o in log.orders.values() if period.contains(o.received)]
    by_country: dict[str, list[Order]] = defaultdict(list)
    for order in in_period:
        by_country[order.country].append(order)
    trend = [
        quarter_row([o for o in log.orders.values() if q.contains(o.received)], q.name)
        for q in previous_quarters(period, TREND_QUARTERS)
    ]
    return {
        "countries": {c: _order_figures(by_country[c]) for c in sorted(by_country)},
        "total": _order_figures(in_period),
        "trend": trend,
    }


def _by_type(orders: list[Order]) -> dict[str, list[Order]]:
    grouped: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        grouped[order.order_type].append(order)
    return grouped


def _orders_by_state(orders: list[Order]) -> dict[str, Any]:
    """Per Member State and per type of offence, as the harmonised templates group orders."""
    grouped: dict[str, dict[str, list[Order]]] = defaultdict(lambda: defaultdict(list))
    for order in orders:
        grouped[order.country][order.offence].append(order)
    return {
        "total": len(orders),
        "median_hours_to_acknowledge": _hours([(o.received, o.acknowledged) for o in orders]),
        "median_hours_to_effect": _hours([(o.received, o.effected) for o in orders]),
        # Removal orders (TCO) and orders to act (DSA Art. 9) have different clocks: one
        # hour against a deadline the order sets.
        "by_order_type": {
            kind: {
                "received": len(items),
                "median_hours_to_effect": _hours([(o.received, o.effected) for o in items]),
            }
            for kind, items in sorted(_by_type(orders).items())
        },
        "by_member_state": {
            state: {
                offence: {
                    "received": len(items),
                    "median_hours_to_acknowledge": _hours(
                        [(o.received, o.acknowledged) for o in items]
                    ),
                    "median_hours_to_effect": _hours([(o.received, o.effected) for o in items]),
                }
                for offence, items in sorted(kinds.items())
            }
            for state, kinds in sorted(grouped.items())
        },
    }


# A decision's automation as the DSA statements of reasons name it.
AUTOMATED = frozenset({"fully", "partially"})


def _own_initiative(counts: Counter[tuple[str, str, str]]) -> dict[str, Any]:
    by_category: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (category, detection, restriction), count in sorted(counts.items()):
        by_category[category][detection][restriction] = count
    return {
        "total": sum(counts.values()),
        "by_detection": dict(sorted(_sum(counts, 1).items())),
        "by_restriction": dict(sorted(_sum(counts, 2).items())),
        "by_category": {c: {d: dict(r) for d, r in ds.items()} for c, ds in by_category.items()},
    }


def _sum(counts: Counter[tuple[str, str, str]], part: int) -> Counter[str]:
    total: Counter[str] = Counter()
    for key, count in counts.items():
        total[key[part]] += count
    return total


def _months(period: Period) -> list[str]:
    months, moment = [], period.start
    while moment < period.end:
        months.append(f"{moment.year:04d}-{moment.month:02d}")
        moment = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return months


UNATTRIBUTED = "unattributed"
# Art. 23 measures: on reporters, on owners of manifestly illegal content, and (counted
# from format 4) on complainants.
ARTICLE_23 = ("reports.reporter_", "reports.account_", "reports.complainant_")


def flaggers_by_category(details: dict[str, Any], version: int) -> dict[str, int]:
    """A ``reports.received`` entry's trusted flaggers' notices, by category.

    Format 4 counts each notice under its own category: entries name them
    (``flagger_by_category``); in an older entry, the notices of one category, or a batch
    all from trusted flaggers, say it too, and a mixed batch's are ``unattributed``.
    Formats 1 to 3 counted them all under the entry's first category."""
    received = cast(NoticesDetails, details)
    by_category = {str(k): int(v) for k, v in (received.get("by_category") or {}).items()}
    flaggers = int((received.get("by_channel") or {}).get("flagger", 0))
    if not flaggers:
        return {}
    if version < 4:
        return {next(iter(by_category), "other"): flaggers}
    named = received.get("flagger_by_category")
    if isinstance(named, dict):
        return {str(k): int(v) for k, v in named.items() if int(v)}
    if len(by_category) == 1 or flaggers == sum(by_category.values()):
        return {k: v for k, v in by_category.items() if v}
    return {UNATTRIBUTED: flaggers}


def _assessment(tp: int, fp: int, tn: int, fn: int) -> dict[str, Any]:
    """Art. 15(1)(e) indicators of the accuracy and rate of error of automated means,
    over the items both they and a moderator assessed: an automated restriction a
    moderator confirmed (true positive) or reversed (false positive), an item they
    assessed (signals) but left up that a moderator then kept (true negative) or
    restricted (false negative)."""
    assessed = tp + fp + tn + fn
    return {
        "accuracy": _rate(tp + tn, assessed),
        "precision": _rate(tp, tp + fp),
        "recall": _rate(tp, tp + fn),
        "error_rate": _rate(fp + fn, assessed),
    }


def dsa(log: Log, period: Period, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """DSA Art. 15 and 24 figures for the period, in the sections of the harmonised
    templates (Implementing Regulation (EU) 2024/2835). Every figure is anchored to an
    event inside the period: a notice received, an automated restriction, a complaint or a
    dispute filed.

    Format 4 (``version``) counts trusted flaggers' notices under their own category,
    complaints answered by an old batch entry as decided, suspensions of complainants
    (Art. 23(2)), and names the automated means' indicators for what they are: precision
    (what format 3 called accuracy), accuracy, recall and error rate."""
    orders = [
        o
        for o in [*log.orders.values(), *log.orders_to_act.values()]
        if period.contains(o.received) and o.country in EU_MEMBER_STATES
    ]
    notices: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    grounds: Counter[str] = Counter()
    automation: Counter[str] = Counter()
    art23: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    raids = 0
    noticed: dict[str, datetime] = {}  # item -> its first notice in the period
    acted: dict[str, datetime] = {}  # item -> the first decision after that notice
    acted_how: dict[str, tuple[str, str]] = {}  # item -> that decision's ground and automation
    # Art. 15(1)(c): measures taken on the provider's own initiative (no notice before them),
    # by category, detection method and restriction.
    own_initiative: Counter[tuple[str, str, str]] = Counter()
    automated: dict[str, datetime] = {}  # item -> its automated restriction in the period
    reviewed: dict[str, str] = {}  # item -> the first moderator's action after it
    # Items automated means assessed (a decision with signals) but did not restrict ->
    # the first moderator's action on them.
    assessed: dict[str, str] = {}
    disputes: dict[str, dict[str, Any]] = {}
    recipients: dict[str, int] = {}  # month -> its latest count
    threats: Counter[str] = Counter()  # Art. 18 notifications sent, by Member State
    threat_hours: list[float] = []
    hotline_reports = 0
    months = _months(period)
    for when, action, target, details in log.events:
        if when < period.start:
            continue
        if action == "platform.active_recipients":
            counted = cast(RecipientsDetails, details)
            month = str(counted.get("month"))
            if month in months:
                recipients[month] = int(counted.get("recipients", 0))
            continue
        in_period = when < period.end
        if action == "reports.received" and in_period:
            received = cast(NoticesDetails, details)
            notices.update({str(k): int(v) for k, v in received.get("by_category", {}).items()})
            channels.update({str(k): int(v) for k, v in received.get("by_channel", {}).items()})
            flagged.update(flaggers_by_category(details, version))
            noticed.setdefault(target, when)
        elif action == "moderation.decision":
            decision = cast(DecisionDetails, details)
            ground, automated_by = str(decision.get("ground_type")), str(decision.get("automation"))
            if target in noticed and target not in acted:
                acted[target] = when
                acted_how[target] = (ground, automated_by)
            elif target not in noticed and in_period and decision.get("action") != "no_violation":
                machine = target in automated or automated_by in AUTOMATED
                detection = "automated" if machine else "human"
                restriction = str(decision.get("action"))
                own_initiative[(str(decision.get("category")), detection, restriction)] += 1
            if target in automated and target not in reviewed:
                reviewed[target] = str(decision.get("action"))
            elif target not in automated and in_period and automated_by in AUTOMATED:
                assessed.setdefault(target, str(decision.get("action")))
            if in_period:
                actions[str(decision.get("action"))] += 1
                grounds[str(decision.get("ground_type"))] += 1
                automation[str(decision.get("automation"))] += 1
        elif action == "moderation.item.restricted":
            restricted = cast(RestrictionDetails, details)
            if target in noticed and target not in acted:
                acted[target] = when
                acted_how[target] = (str(restricted.get("ground_type", "terms")), "fully")
            elif target not in noticed and in_period:
                category = str(restricted.get("category"))
                own_initiative[(category, "automated", "remove_from_search")] += 1
            if in_period:
                automated.setdefault(target, when)
                actions["remove_from_search"] += 1
                grounds[str(restricted.get("ground_type", "terms"))] += 1
                automation["fully"] += 1
        elif action == "escalations.notification.sent" and in_period:
            sent = cast(ThreatNotificationDetails, details)
            threats[str(sent.get("member_state") or "none")] += 1
            threat_hours.append(float(sent.get("hours_to_send", 0)))
        elif action == "hotline.report.sent" and in_period:
            hotline_reports += 1
        elif action == "reports.raid.suspected" and in_period:
            raids += 1
        elif action == "reports.dispute.submitted" and in_period:
            submitted = cast(DisputeSubmittedDetails, details)
            disputes[str(submitted.get("dispute"))] = {"filed": when}
        elif action == "reports.dispute.decided":
            settled = cast(DisputeDecidedDetails, details)
            dispute = disputes.get(str(settled.get("dispute")))
            if dispute is not None:
                dispute.update(
                    decided=when,
                    outcome=str(settled.get("outcome")),
                    implemented=bool(settled.get("implemented")),
                )
        elif action.startswith(ARTICLE_23 if version >= 4 else ARTICLE_23[:2]) and in_period:
            art23[action.removeprefix("reports.")] += 1
    appeals = [a for a in log.appeals_as(version).values() if period.contains(a.filed)]
    confirmed = sum(1 for a in reviewed.values() if a != "no_violation")
    reversed_ = len(reviewed) - confirmed
    decided = [d for d in disputes.values() if "decided" in d]
    missed = sum(1 for a in assessed.values() if a != "no_violation")
    automated_means: dict[str, Any] = {
        "automated_restrictions": len(automated),
        "reviewed_by_moderators": len(reviewed),
        "confirmed": confirmed,
        "reversed": reversed_,
        "accuracy": _rate(confirmed, len(reviewed)),
        "error_rate": _rate(reversed_, len(reviewed)),
    }
    article_23: dict[str, Any] = dict(sorted(art23.items()))
    notices_extra: dict[str, Any] = {}
    if version >= 4:
        automated_means = {
            **{k: v for k, v in automated_means.items() if k not in ("accuracy", "error_rate")},
            "assessed_and_left_up_reviewed": len(assessed),
            "left_up_and_kept": len(assessed) - missed,
            "left_up_and_restricted": missed,
            **_assessment(confirmed, reversed_, len(assessed) - missed, missed),
        }
        measures = ("warning", "suspended")
        people = ("reporter", "complainant", "account")
        article_23 = {f"{p}_{m}": art23[f"{p}_{m}"] for p in people for m in measures}
        # Art. 24(1)(b): suspensions under Art. 23, split by what was suspended.
        article_23["suspensions"] = {
            "notices": art23["reporter_suspended"],
            "complaints": art23["complainant_suspended"],
            "manifestly_illegal_content": art23["account_suspended"],
        }
        notices_extra = {"from_trusted_flaggers_by_category": dict(sorted(flagged.items()))}
    return {
        "orders_to_act": _orders_by_state(
            [o for o in orders if o.order_type in ORDER_TYPES_TO_ACT]
        ),
        "orders_to_provide_information": _orders_by_state(
            [o for o in orders if o.order_type not in ORDER_TYPES_TO_ACT]
        ),
        "notices": {
            "by_category": dict(sorted(notices.items())),
            "total": sum(notices.values()),
            "from_trusted_flaggers": channels.get("flagger", 0),
            **notices_extra,
            "suspected_raids": raids,
            "items_noticed": len(noticed),
            "items_acted_on": len(acted),
            "median_hours_to_act": _hours([(t, acted.get(item)) for item, t in noticed.items()]),
            "items_acted_on_by_ground": dict(
                sorted(Counter(g for g, _ in acted_how.values()).items())
            ),
            "items_acted_on_by_automated_means": sum(
                1 for _, how in acted_how.values() if how in AUTOMATED
            ),
        },
        "own_initiative": _own_initiative(own_initiative),
        "actions": {
            "by_action": dict(sorted(actions.items())),
            "by_ground": dict(sorted(grounds.items())),
            "by_automation": dict(sorted(automation.items())),
        },
        "automated_means": automated_means,
        "complaints": {
            "received": len(appeals),
            "by_party": dict(sorted(Counter(a.party for a in appeals).items())),
            "decided": sum(1 for a in appeals if a.decided),
            "by_outcome": dict(sorted(Counter(a.outcome for a in appeals if a.outcome).items())),
            "median_hours_to_decide": _hours([(a.filed, a.decided) for a in appeals]),
        },
        "out_of_court_disputes": {
            "submitted": len(disputes),
            "decided": len(decided),
            "by_outcome": dict(sorted(Counter(str(d["outcome"]) for d in decided).items())),
            "implemented": sum(1 for d in decided if d["implemented"]),
            "median_hours_to_decide": _hours(
                [(d["filed"], d.get("decided")) for d in disputes.values()]
            ),
        },
        "article_23": article_23,
        # Art. 18: suspicions of a threat to life or safety notified to the authorities
        # ("none": the Member State could not be determined, so Europol was told).
        "threats_to_life_notified": {
            "total": sum(threats.values()),
            "by_member_state": dict(sorted(threats.items())),
            "median_hours_to_notify": (
                round(statistics.median(threat_hours), 1)
                if len(threat_hours) >= SUPPRESS_BELOW
                else None
            ),
        },
        "child_sexual_abuse_reports_to_hotline": hotline_reports,
        "average_monthly_active_recipients": {
            "months_counted": len(recipients),
            "average": round(statistics.mean(recipients.values())) if recipients else None,
        },
    }


def suppress(value: Any) -> Any:
    """Every count from 1 to SUPPRESS_BELOW - 1 becomes "<5"; the rest is unchanged."""
    if isinstance(value, dict):
        return {k: suppress(v) for k, v in value.items()}
    if isinstance(value, list):
        return [suppress(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return SUPPRESSED if 0 < value < SUPPRESS_BELOW else value


COMPUTE = {"lawful_disclosure": lawful_disclosure, "dsa": dsa}


def version_of(report: dict[str, Any]) -> int:
    """A report's format (1 when it names none or none that is a number)."""
    version = report.get("version", 1)
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


def compute(kind: str, log: Log, period: Period, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """The figures of a report of this kind, with the definitions of its format."""
    if kind == "dsa":
        result: dict[str, Any] = suppress(dsa(log, period, version))
    else:
        result = suppress(COMPUTE[kind](log, period))
    return result


# -- comparing published and recomputed figures -----------------------------------------


def as_version_1(figures: dict[str, Any]) -> dict[str, Any]:
    """Reports of format 1 counted a partially fulfilled order as fulfilled in the trend;
    their other figures only lack keys added since."""
    trend = figures.get("trend")
    if not isinstance(trend, list):
        return figures

    def merged(row: dict[str, Any]) -> dict[str, Any]:
        both = [row.get("fulfilled"), row.get("partially_fulfilled")]
        if all(isinstance(v, int) for v in both):
            total: Any = suppress(sum(both))
        else:
            total = None  # a suppressed part: format 1 published the sum unsuppressed
        return {**row, "fulfilled": total}

    return {**figures, "trend": [merged(r) for r in trend]}


def differences(
    published: Any, recomputed: Any, path: str = "figures", *, lenient: bool = False
) -> list[str]:
    """Every figure that differs, named by its path. ``lenient`` (reports of format 1)
    skips keys the published report does not have, and a trend value it cannot rebuild."""
    if isinstance(published, dict) and isinstance(recomputed, dict):
        keys = set(published) if lenient else set(published) | set(recomputed)
        out = []
        for key in sorted(keys):
            if lenient and key not in recomputed:
                continue
            out += differences(
                published.get(key), recomputed.get(key), f"{path}.{key}", lenient=lenient
            )
        return out
    if isinstance(published, list) and isinstance(recomputed, list):
        if len(published) != len(recomputed):
            return [f"{path} has {len(published)} rows; the log gives {len(recomputed)}"]
        out = []
        for i, (a, b) in enumerate(zip(published, recomputed, strict=True)):
            out += differences(a, b, f"{path}[{i}]", lenient=lenient)
        return out
    if lenient and recomputed is None:
        return []
    if published != recomputed:
        return [f"{path} is {published!r} in the report but {recomputed!r} in the log"]
    return []


def compare(report: dict[str, Any], recomputed: dict[str, Any]) -> list[str]:
    """Compare a report's figures with those recomputed with the definitions of its format
    (``compute(kind, log, period, version_of(report))``)."""
    version = version_of(report)
    if version == 1:
        return differences(report.get("figures"), as_version_1(recomputed), lenient=True)
    # Format 3 added the DSA figures of notices acted on by ground and by automated means,
    # measures on the provider's own initiative and complaints by party.
    return differences(report.get("figures"), recomputed, lenient=version == 2)

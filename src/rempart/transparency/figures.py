"""Transparency figures, computed from audit log entries and nothing else.

The same code runs when a report is made and when ``transparency verify`` recomputes it
from the log, so a published figure is exactly what the log says. Entries are the parsed
bodies, read in log order; only the actions named in ``RELEVANT`` count.

Small counts are suppressed deterministically (``suppress``): a count from 1 to
``SUPPRESS_BELOW - 1`` is published as ``"<5"``, and a median over fewer than
``SUPPRESS_BELOW`` orders or complaints as ``null``, so that no figure points at a person.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rempart.transparency.periods import Period, previous_quarters

SUPPRESS_BELOW = 5
SUPPRESSED = f"<{SUPPRESS_BELOW}"
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
RELEVANT = (
    "legal.order.received",
    "legal.order.checked",
    "legal.order.reviewed",
    "legal.order.decided",
    "legal.order.withdrawn",
    "legal.order.emergency_not_confirmed",
    "legal.disclosure.released",
    "moderation.decision",
    "moderation.item.restricted",
    "reports.received",
    "reports.raid.suspected",
    "reports.appeal.filed",
    "reports.appeal.decided",
    "reports.reporter_warning",
    "reports.reporter_suspended",
    "reports.account_warning",
    "reports.account_suspended",
)
TREND_QUARTERS = 8
# What each report reads: the lawful-disclosure report needs only the legal entries.
RELEVANT_FOR = {
    "lawful_disclosure": tuple(a for a in RELEVANT if a.startswith("legal.")),
    "dsa": RELEVANT,
}


def entry_time(body: dict[str, Any]) -> datetime:
    return datetime.strptime(str(body["ts"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass
class _Order:
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
    users_affected: int = 0
    # Released on one review, then not backed by the second review or the validation.
    not_confirmed: bool = False


@dataclass
class _Appeal:
    filed: datetime
    decided: datetime | None = None
    outcome: str | None = None


@dataclass
class Log:
    """What the relevant entries say, accumulated in log order."""

    orders: dict[str, _Order] = field(default_factory=dict)
    appeals: dict[str, _Appeal] = field(default_factory=dict)
    events: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, body: dict[str, Any]) -> None:
        action = body.get("action")
        if action not in RELEVANT:
            return
        when = entry_time(body)
        details = body.get("details") or {}
        target = str(body.get("target") or "")
        if action == "legal.order.received":
            self.orders[target] = _Order(
                country=str(body.get("country") or "??"),
                received=when,
                order_type=str(details.get("order_type", "unspecified")),
                offence=str(details.get("offence_category", "unspecified")),
                categories=[str(c) for c in details.get("categories", [])],
                emergency=bool(details.get("emergency")),
            )
            return
        order = self.orders.get(target)
        if action.startswith("legal.") and order is not None:
            if action == "legal.order.reviewed" and order.acknowledged is None:
                order.acknowledged = when
            elif action in ("legal.order.checked", "legal.order.decided"):
                order.status = str(details.get("status", order.status))
                order.category_outcomes.update(details.get("category_outcomes") or {})
            elif action == "legal.order.withdrawn":
                order.status = "withdrawn"
            elif action == "legal.order.emergency_not_confirmed":
                order.not_confirmed = True
            elif action == "legal.disclosure.released":
                order.effected = order.effected or when
                order.users_affected += int(details.get("accounts", 0))
            return
        if action == "reports.appeal.filed":
            self.appeals[str(details.get("appeal"))] = _Appeal(filed=when)
        elif action == "reports.appeal.decided":
            appeal = self.appeals.get(str(details.get("appeal")))
            if appeal is not None:
                appeal.decided, appeal.outcome = when, str(details.get("outcome"))
        self.events.append((when, str(action), details))


def _hours(pairs: list[tuple[datetime, datetime | None]]) -> float | None:
    spans = [(end - start).total_seconds() / 3600 for start, end in pairs if end is not None]
    if len(spans) < SUPPRESS_BELOW:
        return None
    return round(statistics.median(spans), 1)


def _order_figures(orders: list[_Order]) -> dict[str, Any]:
    disclosed = [o for o in orders if o.effected is not None]
    requested: Counter[str] = Counter(c for o in orders for c in o.categories)
    given: Counter[str] = Counter(
        c for o in disclosed for c, status in o.category_outcomes.items() if status == "approved"
    )
    return {
        "orders_received": len(orders),
        "fulfilled": sum(1 for o in disclosed if o.status != "partially_approved"),
        "partially_fulfilled": sum(1 for o in disclosed if o.status == "partially_approved"),
        "refused": sum(1 for o in orders if o.status in ("refused", "checks_failed")),
        "withdrawn": sum(1 for o in orders if o.status == "withdrawn"),
        "pending": sum(
            1
            for o in orders
            if o.effected is None and o.status not in ("refused", "checks_failed", "withdrawn")
        ),
        "users_affected": sum(o.users_affected for o in disclosed),
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


def lawful_disclosure(log: Log, period: Period) -> dict[str, Any]:
    in_period = [o for o in log.orders.values() if period.contains(o.received)]
    by_country: dict[str, list[_Order]] = defaultdict(list)
    for order in in_period:
        by_country[order.country].append(order)
    trend = []
    for quarter in previous_quarters(period, TREND_QUARTERS):
        orders = [o for o in log.orders.values() if quarter.contains(o.received)]
        trend.append(
            {
                "period": quarter.name,
                "orders_received": len(orders),
                "fulfilled": sum(1 for o in orders if o.effected is not None),
                "users_affected": sum(o.users_affected for o in orders if o.effected),
            }
        )
    return {
        "countries": {c: _order_figures(by_country[c]) for c in sorted(by_country)},
        "total": _order_figures(in_period),
        "trend": trend,
    }


def dsa(log: Log, period: Period) -> dict[str, Any]:
    """DSA Art. 15 and 24 figures for the period."""
    orders = [
        o
        for o in log.orders.values()
        if period.contains(o.received) and o.country in EU_MEMBER_STATES
    ]
    by_state: dict[str, dict[str, list[_Order]]] = defaultdict(lambda: defaultdict(list))
    for order in orders:
        by_state[order.country][order.order_type].append(order)
    notices: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    grounds: Counter[str] = Counter()
    automation: Counter[str] = Counter()
    art23: Counter[str] = Counter()
    raids = 0
    for when, action, details in log.events:
        if not period.contains(when):
            continue
        if action == "reports.received":
            notices.update({str(k): int(v) for k, v in details.get("by_category", {}).items()})
            channels.update({str(k): int(v) for k, v in details.get("by_channel", {}).items()})
        elif action == "moderation.decision":
            actions[str(details.get("action"))] += 1
            grounds[str(details.get("ground_type"))] += 1
            automation[str(details.get("automation"))] += 1
        elif action == "moderation.item.restricted":
            actions["remove_from_search"] += 1
            grounds[str(details.get("ground_type", "terms"))] += 1
            automation["fully"] += 1
        elif action == "reports.raid.suspected":
            raids += 1
        elif action.startswith(("reports.reporter_", "reports.account_")):
            art23[action.removeprefix("reports.")] += 1
    appeals = [a for a in log.appeals.values() if period.contains(a.filed)]
    return {
        "orders_to_act": {
            "total": 0,
            "note": "Rempart receives orders to provide information; orders to act against "
            "content reach moderation as notices.",
        },
        "orders_to_provide_information": {
            state: {
                kind: {
                    "received": len(items),
                    "median_hours_to_acknowledge": _hours(
                        [(o.received, o.acknowledged) for o in items]
                    ),
                    "median_hours_to_effect": _hours(
                        [(o.received, o.effected) for o in items if o.effected]
                    ),
                }
                for kind, items in sorted(kinds.items())
            }
            for state, kinds in sorted(by_state.items())
        },
        "notices": {
            "by_category": dict(sorted(notices.items())),
            "total": sum(notices.values()),
            "from_trusted_flaggers": channels.get("flagger", 0),
            "suspected_raids": raids,
        },
        "actions": {
            "by_action": dict(sorted(actions.items())),
            "by_ground": dict(sorted(grounds.items())),
            "by_automation": dict(sorted(automation.items())),
        },
        "complaints": {
            "received": len(appeals),
            "decided": sum(1 for a in appeals if a.decided),
            "by_outcome": dict(sorted(Counter(a.outcome for a in appeals if a.outcome).items())),
            "median_hours_to_decide": _hours([(a.filed, a.decided) for a in appeals]),
        },
        "article_23": dict(sorted(art23.items())),
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

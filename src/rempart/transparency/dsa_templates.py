"""The DSA report in the harmonised templates of Implementing Regulation (EU) 2024/2835:
the eleven CSV files of Annex I (quantitative parts 1 to 10, qualitative part 11), with the
row and column labels, category codes and Member State codes of the Commission's CSV
templates, filled in as Annex II instructs (docs/dsa-templates.md names the sources and
every assumption).

The files are computed from a report's public dataset, the very entries anyone can check
under the report's signed head, with the figure definitions of ``figures.py``: the TOTAL
cells are the report's JSON figures, and the breakdowns by category, Member State and
restriction add up to them. ``verify_report.py --templates`` recomputes every cell the same
way and names each one that differs. Like ``figures.py``, this module needs the standard
library only: ``make verifier`` inlines it into ``verify_report.py``.

Annex II: a row that applies but whose result is zero says ``0``; a row that cannot apply
to the provider (a restriction Rempart cannot impose, a VLOP-only row) stays blank, and its
contextual column, where the template has one, says why. Counts from 1 to 4 are published
as ``<5`` and medians over fewer than five cases left blank, as in the JSON report.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

# <figures>
from rempart.transparency.figures import (
    AUTOMATED,
    EU_MEMBER_STATES,
    ORDER_TYPES_TO_ACT,
    SUPPRESS_BELOW,
    Log,
    Order,
    Period,
    _hours,
    dsa,
    flaggers_by_category,
    parse_period,
    suppress,
    version_of,
)

# </figures>
# isort: split
# <labels>
from rempart.transparency.dsa_labels import (
    ALL,
    CATEGORIES,
    EUROSTAT,
    HOSTING,
    LANGUAGES,
    MEMBER_STATES,
    NEVER_IMPOSED,
    NOT_APPLICABLE,
    NOT_SPECIFIED_NOTICE,
    NOT_SPECIFIED_ORDER,
    OFFENCE_CATEGORIES,
    ONE_ITEM,
    ORDER_OTHERS,
    OTHER_RESTRICTION,
    PLATFORMS,
    POLICY_CATEGORIES,
    POLICY_OTHERS,
    RESTRICTION_COLUMNS,
    RESTRICTIONS,
    TEMPLATE_FILES,
    VLOPS,
    VLOPS_AND_VLOSES,
)

# </labels>

FEWER = f"Fewer than {SUPPRESS_BELOW} cases: not published, so that no figure points at a person."


def _cell(value: Any) -> str:
    """A count (1 to 4 become "<5"), a median in hours or a share; None is blank."""
    if value is None:
        return ""
    return str(suppress(value))


def _median(pairs: Iterable[tuple[datetime, datetime | None]]) -> tuple[str, str]:
    """The median in hours and, when it is not published, why."""
    pairs = list(pairs)
    value = _hours(pairs)
    if value is None:
        return "", FEWER if any(end is not None for _, end in pairs) else ""
    return str(value), ""


def _rows(part: str) -> list[tuple[str, str, str]]:
    """The category rows of a part, as the template lists them."""
    excluded = {
        "3": ("Category 15", "Category 17"),
        "4": ("Category 15", "Category 16"),
        "5": ("Category 15", "Category 16", "Category 17"),
        "6": ("Category 16", "Category 17"),
    }[part]
    return [row for row in CATEGORIES if not any(_within(row[0], name) for name in excluded)]


def _within(label: str, high_level: str) -> bool:
    """Whether ``label`` is ``high_level`` or one of its sub-categories (9 and 9b, not 10)."""
    return label == high_level or (
        label.startswith(high_level) and label[len(high_level) :].isalpha()
    )


def _matches(label: str, place: tuple[str, str] | None) -> bool:
    """Whether something filed under ``place`` counts in the row ``label``."""
    if label == "TOTAL":
        return True
    return place is not None and label in place


def _other(label: str, code: str, descriptions: dict[str, str] = POLICY_OTHERS) -> str:
    return descriptions.get(label, "") if code == "KEYWORD_OTHER" else ""


class TemplateLog(Log):
    """The report's log, plus what only the templates ask for: each order's number of
    specific items of information."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, int] = {}

    def add(self, body: dict[str, Any]) -> None:
        super().add(body)
        if body.get("action") == "legal.order.received":
            details = body.get("details") or {}
            self.items[str(body.get("target") or "")] = int(details.get("items", 1))


# -- the eleven parts --------------------------------------------------------------------


def _dates(report: dict[str, Any]) -> tuple[str, str, str, str]:
    """Publication, previous publication, first and last day of the period."""
    period = parse_period(str(report["period"]))
    previous = report.get("previous_head")
    before = ""
    if isinstance(previous, dict) and isinstance(previous.get("timestamp"), int):
        # The previous report signed its head as it was published (service.publish).
        stamp = previous["timestamp"]
        seconds = stamp / 1000 if stamp > 10**11 else stamp
        before = datetime.fromtimestamp(seconds, UTC).date().isoformat()
    last = (period.end - timedelta(days=1)).date().isoformat()
    return str(report["generated_at"])[:10], before, period.start.date().isoformat(), last


def _summary(report: dict[str, Any], provider: str, service: str) -> list[list[str]]:
    published, before, first, last = _dates(report)
    return [
        ["Applicability", "Service", "Indicator", "Value"],
        [ALL, service, "Name of the service provider", provider],
        [ALL, service, "Date of the publication of the report", published],
        [ALL, service, "Date of the publication of the latest previous report", before],
        [ALL, service, "Starting date of reporting period", first],
        [ALL, service, "Ending date of reporting period", last],
    ]


def _categories() -> list[list[str]]:
    rempart: dict[str, list[str]] = defaultdict(list)
    for name, (_, label) in POLICY_CATEGORIES.items():
        rempart[label].append(f"notices and decisions of Rempart's category {name!r}")
    for name, (_, label) in OFFENCE_CATEGORIES.items():
        rempart[label].append(f"orders naming the offence {name!r}")
    rempart[NOT_SPECIFIED_ORDER].append("orders naming the offence 'other' or none")
    rempart[NOT_SPECIFIED_NOTICE].append("notices of Rempart's category 'other'")
    header = [
        "Category label",
        "Category description",
        "Category of illegal content / incompatible with the terms and conditions",
        "Contextual information",
    ]
    return [header] + [
        [label, text, code, "; ".join(rempart.get(label, []))] for label, text, code in CATEGORIES
    ]


ORDERS_HEADER = [
    "Number of orders to act against illegal content received",
    "Number of specific items of information included in the total number of orders to act "
    "against illegal content",
    "Median time to inform the authority of the receipt of the order to act against illegal "
    "content",
    "Median time to give effect to the order to act against illegal content",
    "Number of orders to provide information",
    "Median time to inform the authority of the receipt of the order to provide information",
    "Median time to give effect to the order to provide information",
]


def _orders(log: TemplateLog, period: Period, service: str, span: str) -> list[list[str]]:
    # The orders of the report's JSON figures: received in the period from a Member State.
    orders = [
        (target, order)
        for table in (log.orders, log.orders_to_act)
        for target, order in table.items()
        if period.contains(order.received) and order.country in EU_MEMBER_STATES
    ]
    contexts = [
        "Contextual information on number of orders to act against illegal content received",
        "Contextual information on number of specific items of information included in the "
        "total number of orders to act against illegal content",
        "Contextual information on Median time to inform the authority of the receipt of the "
        "order to act against illegal content",
        "Contextual information on Median time to give effect to the order to act against "
        "illegal content",
        "Contextual information on Number of orders to provide information",
        "Contextual information on Median time to inform the authority of the receipt of the "
        "order to provide information",
        "Contextual information on Median time to give effect to the order to provide information",
    ]
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Category of illegal content",
        'Description of the sub-category "Other"',
        "Scope",
        *ORDERS_HEADER,
        *contexts,
    ]

    def place(order: Order) -> tuple[str, str]:
        return OFFENCE_CATEGORIES.get(order.offence, (NOT_SPECIFIED_ORDER, NOT_SPECIFIED_ORDER))

    out = [header]
    for scope in ["TOTAL", *MEMBER_STATES]:
        in_scope = [
            (t, o)
            for t, o in orders
            if scope == "TOTAL" or EUROSTAT.get(o.country, o.country) == scope
        ]
        # Each order counts in its category's row and its sub-category's row.
        by_row: dict[str, list[tuple[str, Order]]] = defaultdict(list)
        for target, order in in_scope:
            for name in set(place(order)):
                by_row[name].append((target, order))
        for label, _, code in _rows("3"):
            chosen = in_scope if label == "TOTAL" else by_row.get(label, [])
            acts = [(t, o) for t, o in chosen if o.order_type in ORDER_TYPES_TO_ACT]
            info = [o for _, o in chosen if o.order_type not in ORDER_TYPES_TO_ACT]
            acknowledged = _median((o.received, o.acknowledged) for _, o in acts)
            effected = _median((o.received, o.effected) for _, o in acts)
            info_acknowledged = _median((o.received, o.acknowledged) for o in info)
            info_effected = _median((o.received, o.effected) for o in info)
            out.append(
                [
                    ALL,
                    service,
                    span,
                    code,
                    _other(label, code, ORDER_OTHERS),
                    scope,
                    _cell(len(acts)),
                    _cell(sum(log.items.get(t, 1) for t, _ in acts)),
                    acknowledged[0],
                    effected[0],
                    _cell(len(info)),
                    info_acknowledged[0],
                    info_effected[0],
                    "",
                    "",
                    acknowledged[1],
                    effected[1],
                    "",
                    info_acknowledged[1],
                    info_effected[1],
                ]
            )
    return out


class _Noticed:
    """An item noticed in the period, filed under the category of its first notice."""

    def __init__(self, when: datetime, category: str) -> None:
        self.when, self.category = when, category
        self.flagged = False
        self.acted: datetime | None = None
        self.ground = ""
        self.automation = ""


def _notice_place(category: str) -> tuple[str, str]:
    """A notice names alleged illegal content: one that names only a breach of the terms
    (spam) or Rempart's "other" names no illegality."""
    place = POLICY_CATEGORIES.get(category)
    if place is None or place[0] == "Category 15":
        return NOT_SPECIFIED_NOTICE, NOT_SPECIFIED_NOTICE
    return place


def _read_notices(
    log: Log, period: Period, version: int
) -> tuple[Counter[str], Counter[str], dict[str, _Noticed]]:
    """Notices and trusted flaggers' notices by category, and each noticed item with the
    first decision after its notice: the definitions of the JSON figures (figures.dsa)."""
    notices: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    items: dict[str, _Noticed] = {}
    for when, action, target, details in log.events:
        if when < period.start:
            continue
        if action == "reports.received" and when < period.end:
            by_category = {str(k): int(v) for k, v in (details.get("by_category") or {}).items()}
            notices.update(by_category)
            first = next(iter(by_category), "other")
            flaggers = int((details.get("by_channel") or {}).get("flagger", 0))
            # Each trusted flagger's notice under its own category from format 4; before,
            # a mixed entry's counted under its first category (the item's).
            flagged.update(flaggers_by_category(details, version))
            item = items.setdefault(target, _Noticed(when, first))
            item.flagged = item.flagged or flaggers > 0
        elif action in ("moderation.decision", "moderation.item.restricted"):
            found = items.get(target)
            if found is not None and found.acted is None:
                found.acted = when
                if action == "moderation.decision":
                    found.ground = str(details.get("ground_type"))
                    found.automation = str(details.get("automation"))
                else:
                    found.ground = str(details.get("ground_type", "terms"))
                    found.automation = "fully"
    return notices, flagged, items


def _acted(items: list[_Noticed], *, on_the_law: bool) -> str:
    return _cell(sum(1 for i in items if i.acted and (i.ground == "illegal") == on_the_law))


def _notices(log: Log, period: Period, service: str, span: str, version: int) -> list[list[str]]:
    notices, flagged, items = _read_notices(log, period, version)
    figures = [
        "Number of notices received ",
        "Number of notices received from Trusted flaggers",
        "Number of specific items of information included in the total number of notices",
        "Number of specific items of information included in the total number of notices by "
        "Trusted Flaggers (Trusted Flagger notices)",
        "Median time to take action",
        "Median time to take action (Trusted Flagger notices)",
        "Number of actions taken on the basis of the law",
        "Number of actions taken on the basis of the law (Trusted Flagger notices)",
        "Number of actions taken on the basis of the terms and conditions of the service",
        "Number of actions taken on the basis of the terms and conditions of the service "
        "(Trusted Flagger notices)",
    ]
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Category of illegal content",
        'Description of the sub-category "Other"',
        *figures,
        *(f"Contextual information on {name}" for name in figures),
    ]
    items_by_row: dict[str, list[_Noticed]] = defaultdict(list)
    for item in items.values():
        for name in set(_notice_place(item.category)):
            items_by_row[name].append(item)
    out = [header]
    for label, _, code in _rows("4"):
        received = sum(n for c, n in notices.items() if _matches(label, _notice_place(c)))
        by_flaggers = sum(n for c, n in flagged.items() if _matches(label, _notice_place(c)))
        chosen = items_by_row.get(label, []) if label != "TOTAL" else list(items.values())
        flagged_items = [i for i in chosen if i.flagged]
        median = _median((i.when, i.acted) for i in chosen)
        median_flagged = _median((i.when, i.acted) for i in flagged_items)

        context = [ONE_ITEM if label == "TOTAL" else "", "", "", "", median[1], median_flagged[1]]
        out.append(
            [
                HOSTING,
                service,
                span,
                code,
                _other(label, code),
                _cell(received),
                _cell(by_flaggers),
                _cell(received),
                _cell(by_flaggers),
                median[0],
                median_flagged[0],
                _acted(chosen, on_the_law=True),
                _acted(flagged_items, on_the_law=True),
                _acted(chosen, on_the_law=False),
                _acted(flagged_items, on_the_law=False),
                *context,
                "",
                "",
                "",
                "",
            ]
        )
    return out


def _read_own_initiative(log: Log, period: Period) -> Counter[tuple[str, str, str, str, bool]]:
    """Measures on the provider's own initiative by ground, category, detection method,
    restriction and whether solely automated means took them: figures.dsa's definition
    ("own_initiative"), with the ground and the means kept."""
    noticed: set[str] = set()
    automated: set[str] = set()
    measures: Counter[tuple[str, str, str, str, bool]] = Counter()
    for when, action, target, details in log.events:
        if when < period.start:
            continue
        in_period = when < period.end
        if action == "reports.received" and in_period:
            noticed.add(target)
        elif action == "moderation.decision":
            if target not in noticed and in_period and details.get("action") != "no_violation":
                automation = str(details.get("automation"))
                machine = target in automated or automation in AUTOMATED
                key = (
                    str(details.get("ground_type")),
                    str(details.get("category")),
                    "automated" if machine else "human",
                    str(details.get("action")),
                    automation == "fully",
                )
                measures[key] += 1
        elif action == "moderation.item.restricted":
            if target not in noticed and in_period:
                ground = str(details.get("ground_type", "terms"))
                key = (
                    ground,
                    str(details.get("category")),
                    "automated",
                    "remove_from_search",
                    True,
                )
                measures[key] += 1
            if in_period:
                automated.add(target)
    return measures


def _own_initiative_part(
    log: Log, period: Period, service: str, span: str, *, illegal: bool
) -> list[list[str]]:
    measures = {
        key: count
        for key, count in _read_own_initiative(log, period).items()
        if (key[0] == "illegal") == illegal
    }
    figures = [
        "Number of measures taken at the provider's own initiative ",
        "Number of measures taken after detection with solely automated means ",
        *RESTRICTION_COLUMNS,
    ]
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Category of illegal content"
        if illegal
        else "Category of incompatibility with the provider's terms and conditions",
        'Description of the sub-category "Other"',
        *figures,
        *(f"Contextual Information on {name}" for name in figures),
    ]
    out = [header]
    for label, _, code in _rows("5" if illegal else "6"):
        chosen = {
            key: count
            for key, count in measures.items()
            if _matches(label, POLICY_CATEGORIES.get(key[1]))
        }
        by_restriction: Counter[str] = Counter()
        for key, count in chosen.items():
            by_restriction[RESTRICTIONS.get(key[3], OTHER_RESTRICTION)] += count
        values = [
            "" if name in NEVER_IMPOSED else _cell(by_restriction[name])
            for name in RESTRICTION_COLUMNS
        ]
        context = [
            NOT_APPLICABLE if name in NEVER_IMPOSED and label == "TOTAL" else ""
            for name in RESTRICTION_COLUMNS
        ]
        detected = sum(count for key, count in chosen.items() if key[2] == "automated")
        out.append(
            [
                ALL,
                service,
                span,
                code,
                _other(label, code),
                _cell(sum(chosen.values())),
                _cell(detected),
                *values,
                "",
                "Detected by Rempart's rules, hash banks or classifier before any person looked."
                if label == "TOTAL"
                else "",
                *context,
            ]
        )
    return out


BASES = (
    (
        "Complaint regarding a decision to remove or disable access to or restrict visibility "
        "of information",
        ("remove_content", "remove_from_search"),
    ),
    (
        "Complaint regarding a decision to suspend or terminate the provision of the service",
        ("suspend_entity",),
    ),
    ("Complaint regarding a decision to suspend or terminate an account ", ("suspend_account",)),
    ("Complaint regarding a decision to restrict the ability to monetise information", ()),
    (
        "Complaint regarding a decision not to take action on a notice submitted in "
        "accordance with Article 16",
        ("no_violation",),
    ),
    (
        "Complaint regarding a decision not to take action on a notice submitted by a Trusted "
        "Flagger in accordance with Article 16",
        (),
    ),
)
COMPLAINTS = "Internal complaints mechanism"
DISPUTES = "Out-of-court dispute settlement bodies"
SUSPENSIONS = "Suspensions imposed on repeated offenders"


def _appeals_and_recidivism(
    log: Log, period: Period, figures: dict[str, Any], service: str, span: str, version: int
) -> list[list[str]]:
    filed = log.appeals_as(version)
    # Each complaint against the decision it names: the last decision on its item before it.
    last_action: dict[str, str] = {}
    complaints: list[tuple[str, Any]] = []  # (the decision's action, the appeal)
    for when, action, target, details in log.events:
        if action == "moderation.decision":
            last_action[target] = str(details.get("action"))
        elif action == "reports.appeal.filed" and period.contains(when):
            appeal = filed.get(str(details.get("appeal")))
            if appeal is not None:
                complaints.append((last_action.get(target, ""), appeal))
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Section",
        "Indicator",
        "Scope",
        "Value",
        "Contextual Information",
    ]
    out = [header]

    def row(
        applies: str, section: str, indicator: str, scope: str, value: str, why: str = ""
    ) -> None:
        out.append([applies, service, span, section, indicator, scope, value, why])

    def outcomes(applies: str, indicator: str, group: list[Any], omitted: bool) -> None:
        row(applies, COMPLAINTS, indicator, "Total number", _cell(len(group)))
        row(PLATFORMS, COMPLAINTS, indicator, "Decisions upheld", _cell(_count(group, "upheld")))
        row(
            PLATFORMS,
            COMPLAINTS,
            indicator,
            "Decisions partially reversed",
            "",
            "Not applicable: a complaint's decision is upheld or reversed.",
        )
        row(
            PLATFORMS, COMPLAINTS, indicator, "Decisions reversed", _cell(_count(group, "reversed"))
        )
        median = _median((a.filed, a.decided) for a in group)
        row(PLATFORMS, COMPLAINTS, indicator, "Median time", median[0], median[1])
        if omitted:
            row(
                PLATFORMS,
                COMPLAINTS,
                indicator,
                "Decision omitted",
                "",
                "Not applicable: complaints cannot be withdrawn.",
            )

    appeals = [appeal for _, appeal in complaints]
    outcomes(
        ALL, "Number of complaints submitted to the internal-complaints mechanism", appeals, True
    )
    newly = sum(1 for a in appeals if a.party == "reporter" and a.outcome == "reversed")
    row(
        PLATFORMS,
        COMPLAINTS,
        "Number of restrictions newly imposed as a result of an internal complaint",
        "Total number",
        _cell(newly),
    )
    for indicator, actions in BASES:
        if not actions:
            why = (
                "Not applicable: Rempart imposes no monetary restriction."
                if "monetise" in indicator
                else "Not applicable: Rempart does not record which notifier a complaint "
                "follows; these complaints are counted in the row above."
            )
            for scope in ("Total number", "Decisions upheld", "Decisions partially reversed"):
                row(
                    PLATFORMS,
                    COMPLAINTS,
                    indicator,
                    scope,
                    "",
                    why if scope == "Total number" else "",
                )
            for scope in ("Decisions reversed", "Median time"):
                row(PLATFORMS, COMPLAINTS, indicator, scope, "")
            continue
        outcomes(PLATFORMS, indicator, [a for act, a in complaints if act in actions], False)

    disputes = _disputes(log, period)
    indicator = "Number of disputes submitted to out-of-court dispute settlement bodies"
    decided = [d for d in disputes if "decided" in d]
    reversed_ = [d for d in decided if d["outcome"] == "in_favour_of_recipient"]
    totals = figures["out_of_court_disputes"]
    median = _median((d["filed"], d.get("decided")) for d in disputes)
    share = (
        round(sum(1 for d in reversed_ if d["implemented"]) / len(reversed_), 3)
        if len(reversed_) >= SUPPRESS_BELOW
        else None
    )
    for scope, value, why in (
        ("Total number", _cell(totals["submitted"]), ""),
        ("Decisions upheld", _cell(_outcome(decided, "in_favour_of_provider")), ""),
        (
            "Decisions partially reversed",
            "",
            "Not applicable: the bodies' outcomes Rempart records are in favour of the "
            "recipient or of the provider, settled or discontinued.",
        ),
        ("Decisions reversed", _cell(len(reversed_)), "Outcome in favour of the recipient."),
        ("Median time", median[0], median[1]),
        (
            "Decision omitted",
            _cell(_outcome(decided, "settled") + _outcome(decided, "discontinued")),
            "Settled or discontinued.",
        ),
        (
            "Percentage of outcomes implemented",
            "" if share is None else str(share),
            FEWER if share is None and reversed_ else "",
        ),
    ):
        row(PLATFORMS, DISPUTES, indicator, scope, value, why)

    art23 = figures["article_23"]
    row(
        PLATFORMS,
        SUSPENSIONS,
        "Number of suspensions enacted for the provision of manifestly illegal content ",
        "Total number",
        _cell(art23.get("account_suspended", 0)),
    )
    row(
        PLATFORMS,
        SUSPENSIONS,
        "Number of suspensions enacted for the provision of manifestly unfounded notices",
        "Total number",
        _cell(art23.get("reporter_suspended", 0)),
    )
    row(
        PLATFORMS,
        SUSPENSIONS,
        "Number of suspensions enacted for the provision of manifestly unfounded complaints",
        "Total number",
        *(
            (_cell(art23["suspensions"]["complaints"]), "")
            if version >= 4
            else ("", "Not applicable: Rempart does not suspend the handling of complaints.")
        ),
    )
    return out


def _count(appeals: list[Any], outcome: str) -> int:
    return sum(1 for a in appeals if a.outcome == outcome)


def _outcome(disputes: list[dict[str, Any]], outcome: str) -> int:
    return sum(1 for d in disputes if d["outcome"] == outcome)


def _disputes(log: Log, period: Period) -> list[dict[str, Any]]:
    """Disputes submitted in the period, with their decision: figures.dsa's definition."""
    disputes: dict[str, dict[str, Any]] = {}
    for when, action, _, details in log.events:
        if action == "reports.dispute.submitted" and period.contains(when):
            disputes[str(details.get("dispute"))] = {"filed": when}
        elif action == "reports.dispute.decided" and str(details.get("dispute")) in disputes:
            disputes[str(details.get("dispute"))].update(
                decided=when,
                outcome=str(details.get("outcome")),
                implemented=bool(details.get("implemented")),
            )
    return list(disputes.values())


def _automated_means(
    log: Log, period: Period, figures: dict[str, Any], service: str, span: str, version: int
) -> list[list[str]]:
    section = "Use of automated means for content moderation"
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Section",
        "Indicator",
        "Scope",
        "Value",
        "Contextual Information",
    ]
    out = [header]
    solely, not_solely = (
        "Number of measures solely taken by automated means ",
        "Number of measures not taken by automated means",
    )
    accuracy = "Accuracy of the automated means - Accuracy"
    precision = "Accuracy of the automated means - Precision"
    recall = "Accuracy of the automated means - Recall"

    def row(applies: str, indicator: str, scope: str, value: str, why: str = "") -> None:
        out.append([applies, service, span, section, indicator, scope, value, why])

    # Every restriction of the period (a decision that restricted, or an automated
    # restriction), and those on the provider's own initiative.
    by_action = figures["actions"]["by_action"]
    measures = sum(n for action, n in by_action.items() if action != "no_violation")
    automatic = _solely_automated(log, period)
    own = _read_own_initiative(log, period)
    own_solely = sum(n for key, n in own.items() if key[4])
    means = figures["automated_means"]
    rate = means["precision" if version >= 4 else "accuracy"]
    reviewed = figures["automated_means"]["reviewed_by_moderators"]
    precision_why = (
        "Share of automated restrictions that moderators reviewed and confirmed "
        f"({_cell(figures['automated_means']['confirmed'])} of {_cell(reviewed)})."
        if rate is not None
        else FEWER
    )
    unmeasured = (
        "Not measured: it needs the items the automated means let through, which no "
        "moderator reviews."
    )
    assessed = means.get("reviewed_by_moderators", 0) + means.get(
        "assessed_and_left_up_reviewed", 0
    )

    def measured(name: str, what: str) -> tuple[str, str]:
        value = means.get(name)
        return ("", FEWER) if value is None else (str(value), what)

    for scope, all_, solely_ in (
        ("Total number", measures, automatic),
        ("Own-initiative ", sum(own.values()), own_solely),
    ):
        row(ALL, solely, scope, _cell(solely_))
        row(ALL, not_solely, scope, _cell(all_ - solely_))
        if version < 4:
            row(ALL, accuracy, scope, "", unmeasured)
        elif scope == "Total number":
            row(
                ALL,
                accuracy,
                scope,
                *measured(
                    "accuracy",
                    "Share of the items both automated means and a moderator assessed "
                    f"({_cell(assessed)}) on which they agreed: automated restrictions "
                    "confirmed, and items the means assessed and left up that the moderator "
                    "kept up.",
                ),
            )
        else:
            row(ALL, accuracy, scope, "", "Counted for all automated means: see Total.")
        if scope == "Total number":
            row(ALL, precision, scope, "" if rate is None else str(rate), precision_why)
        else:
            row(ALL, precision, scope, "", "Counted for all automated restrictions: see Total.")
        if version < 4:
            row(ALL, recall, scope, "", unmeasured)
        elif scope == "Total number":
            row(
                ALL,
                recall,
                scope,
                *measured(
                    "recall",
                    "Share of the items a moderator restricted, among those the automated "
                    "means assessed, that the means had restricted themselves.",
                ),
            )
        else:
            row(ALL, recall, scope, "", "Counted for all automated means: see Total.")
    _, _, items = _read_notices(log, period, version)
    for applies, scope, group in (
        (HOSTING, "NAM Total", list(items.values())),
        (PLATFORMS, "NAM Trusted Flagger", [i for i in items.values() if i.flagged]),
    ):
        decided = [i for i in group if i.acted is not None]
        by_machine = sum(1 for i in decided if i.automation == "fully")
        row(
            applies,
            "Number of notices solely processed by automated means ",
            scope,
            _cell(by_machine),
            "Counted per noticed item, by the first decision on it."
            if scope == "NAM Total"
            else "",
        )
        row(
            applies,
            "Number of notices not processed by automated means",
            scope,
            _cell(len(decided) - by_machine),
        )
        for indicator in (accuracy, precision, recall):
            row(applies, indicator, scope, "", "Not measured per notice channel: see Total.")
    for indicator in (solely, not_solely, accuracy, precision, recall):
        for language in LANGUAGES:
            row(VLOPS, indicator, language, "")
    return out


def _solely_automated(log: Log, period: Period) -> int:
    """Restrictions of the period taken by fully automated means (figures.dsa's
    ``actions``): automated restrictions, and decisions marked fully automated."""
    count = 0
    for when, action, _, details in log.events:
        if not period.contains(when):
            continue
        if action == "moderation.item.restricted" or (
            action == "moderation.decision"
            and details.get("action") != "no_violation"
            and details.get("automation") == "fully"
        ):
            count += 1
    return count


def _human_resources(service: str, span: str) -> list[list[str]]:
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Section",
        "Indicator",
        "Scope",
        "Value",
        "Contextual information",
    ]
    section = "Human resources dedicated to content moderation "
    out = [header]
    for indicator in (
        "Number of internal moderators employed by the provider",
        "Number of external moderators contracted by the provider",
    ):
        out.append([VLOPS, service, span, section, indicator, "Total number", "", ""])
    linguistic = "Number of total moderators with sufficient linguistic expertise "
    for scope in ["Total number", *LANGUAGES]:
        out.append([VLOPS, service, span, section, linguistic, scope, "", ""])
    return out


def _amar(service: str, span: str) -> list[list[str]]:
    header = [
        "Applicability",
        "Service",
        "Reporting period",
        "Section",
        "Indicator",
        "Scope",
        "Value",
    ]
    indicator = "Number of average monthly active recipients during the reporting period "
    return [header] + [
        [VLOPS_AND_VLOSES, service, span, "AMAR", indicator, scope, ""]
        for scope in ["TOTAL", *MEMBER_STATES]
    ]


QUALITATIVE = (
    (
        ALL,
        "Summary of the content moderation engaged in at the providers’ own initiative",
        "Items are scored by rules, hash banks and a classifier; above a category's threshold "
        "an item leaves search at once (demotion) and goes to a moderator, who removes it, "
        "suspends the account or entity, or finds no violation. Parts 5 and 6 count these "
        "measures by ground, category and restriction.",
    ),
    (
        ALL,
        "Meaningful and comprehensible information regarding content moderation engaged in "
        "at the providers' own initiative",
        "Detection by keyword and pattern rules per language, exact hash matches against hash "
        "banks, and a multilingual text classifier; no exposure measure is computed.",
    ),
    (
        ALL,
        "Qualitative description of the automated means",
        "Rules, hashes and a classifier score an item per category; the policy sets per "
        "category the score at which an item is restricted at once and the score at which it "
        "goes to human review. None of them decides anything beyond a demotion.",
    ),
    (
        ALL,
        "Qualitative description of indicators of accuracy and possible rate of error of "
        "automated means",
        "Precision: the share of automated restrictions that a moderator reviewed and "
        "confirmed; the rest were reversed. Accuracy and recall are not measured.",
    ),
    (
        ALL,
        "Specification of the precise purposes to apply automated means",
        "To take suspected illegal or incompatible content out of search quickly and to order "
        "the moderators' queue by severity.",
    ),
    (
        ALL,
        "Safeguards applied to the use of automated means",
        "Every automated restriction goes to a moderator; the owner receives a statement of "
        "reasons and may complain; a complaint is decided by another moderator.",
    ),
    (VLOPS, "High-level description of the content moderation governance structure", ""),
    (VLOPS, "Qualifications of the human resources dedicated to content moderation", ""),
    (VLOPS, "Training given to human resources dedicated to content moderation", ""),
    (VLOPS, "Support given to human resources dedicated to content moderation ", ""),
    (
        VLOPS,
        "Methodology used to compute the number of human resources dedicated to content "
        "moderation  ",
        "",
    ),
)


def _qualitative(service: str, span: str) -> list[list[str]]:
    header = ["Applicability", "Service", "Reporting period", "Indicator", "Value"]
    return [header] + [[applies, service, span, name, text] for applies, name, text in QUALITATIVE]


# -- the files ---------------------------------------------------------------------------


def tables(
    report: dict[str, Any], entries: Iterable[dict[str, Any]], *, provider: str, service: str
) -> dict[str, list[list[str]]]:
    """Every part's rows, header first, from the entries of the report's dataset."""
    log = TemplateLog()
    for entry in entries:
        log.add(entry)
    period = parse_period(str(report["period"]))
    _, _, first, last = _dates(report)
    span = f"{first}/{last}"
    version = version_of(report)
    figures = dsa(log, period, version)
    parts: list[Callable[[], list[list[str]]]] = [
        lambda: _summary(report, provider, service),
        _categories,
        lambda: _orders(log, period, service, span),
        lambda: _notices(log, period, service, span, version),
        lambda: _own_initiative_part(log, period, service, span, illegal=True),
        lambda: _own_initiative_part(log, period, service, span, illegal=False),
        lambda: _appeals_and_recidivism(log, period, figures, service, span, version),
        lambda: _automated_means(log, period, figures, service, span, version),
        lambda: _human_resources(service, span),
        lambda: _amar(service, span),
        lambda: _qualitative(service, span),
    ]
    return {name: part() for name, part in zip(TEMPLATE_FILES, parts, strict=True)}


def to_csv(rows: list[list[str]]) -> str:
    """RFC 4180: CRLF line ends, fields quoted where needed; UTF-8 once encoded."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def render(
    report: dict[str, Any], dataset: dict[str, Any], *, provider: str, service: str
) -> dict[str, str]:
    entries = [record["entry"] for record in dataset["entries"]]
    return {
        name: to_csv(rows)
        for name, rows in tables(report, entries, provider=provider, service=service).items()
    }


def declared(files: dict[str, str]) -> tuple[str, str]:
    """The provider and service the published files name: declarations, not figures."""
    rows = list(csv.reader(io.StringIO(files.get("1_summary.csv", ""))))
    provider = next(
        (r[3] for r in rows[1:] if len(r) > 3 and r[2] == "Name of the service provider"), ""
    )
    service = rows[1][1] if len(rows) > 1 and len(rows[1]) > 1 else ""
    return provider, service


MAX_CELLS_NAMED = 20
# The columns that name a row of each file, in a problem's message.
ROW_NAMES = {
    "1_summary.csv": (2,),
    "2_categories_names.csv": (0,),
    "3_member_states_orders.csv": (3, 5),
    "4_notices.csv": (3,),
    "5_own_initiative_illegal.csv": (3,),
    "6_own_initiative_TC.csv": (3,),
    "11_qualitative.csv": (3,),
}


def _row_name(name: str, row: list[str]) -> str:
    columns = ROW_NAMES.get(name, (4, 5))
    return " / ".join(row[c].strip() for c in columns if c < len(row))


def compare_tables(files: dict[str, str], recomputed: dict[str, list[list[str]]]) -> list[str]:
    """Every published cell that differs from the recomputed one, named by file, row and
    column (at most MAX_CELLS_NAMED per file)."""
    problems = []
    for name, expected in recomputed.items():
        if name not in files:
            problems.append(f"the templates lack {name}")
            continue
        published = list(csv.reader(io.StringIO(files[name])))
        if published[:1] != expected[:1]:
            problems.append(f"{name}: its columns are not the template's")
            continue
        if len(published) != len(expected):
            problems.append(
                f"{name} has {len(published) - 1} rows; the template and the log give "
                f"{len(expected) - 1}"
            )
            continue
        found = []
        for number, (have, want) in enumerate(zip(published, expected, strict=True)):
            if have == want:
                continue
            for column, (a, b) in enumerate(zip(have + [""] * len(want), want, strict=False)):
                if a != b:
                    found.append(
                        f"{name} row {number + 1} ({_row_name(name, want)}), column "
                        f"{expected[0][column]!r}: {a!r} in the file but {b!r} in the log"
                    )
            if len(have) != len(want):
                found.append(f"{name} row {number + 1} has {len(have)} cells, not {len(want)}")
        problems += found[:MAX_CELLS_NAMED]
        if len(found) > MAX_CELLS_NAMED:
            problems.append(f"{name}: {len(found) - MAX_CELLS_NAMED} more cells differ")
    extra = sorted(set(files) - set(recomputed))
    if extra:
        problems.append(f"the templates hold files that are not the template's: {extra}")
    return problems


def check_templates(
    report: dict[str, Any], dataset: dict[str, Any], files: dict[str, str]
) -> list[str]:
    """Recompute every cell from the report's dataset and compare it with the files."""
    if report.get("kind") != "dsa":
        return ["only a DSA report has the templates of Implementing Regulation (EU) 2024/2835"]
    provider, service = declared(files)
    entries = [record.get("entry") or {} for record in dataset.get("entries") or []]
    return compare_tables(files, tables(report, entries, provider=provider, service=service))

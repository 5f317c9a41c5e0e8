"""What notices, appeals and disputes record in the audit log. Targets are the item
noticed or the person (``reporter:<id>``, ``user:<id>``). The transparency figures read
every event here."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rempart.audit.events import AuditEvent, PersonRef


class NoticesReceived(AuditEvent):
    action: ClassVar[str] = "reports.received"
    case: int
    received: int
    tracking_ids: list[str]
    by_category: dict[str, int]
    by_channel: dict[str, int]
    # Trusted flaggers' notices by their own category (entries before it name none).
    flagger_by_category: dict[str, int] = Field(default_factory=dict)


class RaidSuspected(AuditEvent):
    action: ClassVar[str] = "reports.raid.suspected"
    case: int
    score: float
    signals: dict[str, Any]


class AppealFiled(AuditEvent):
    action: ClassVar[str] = "reports.appeal.filed"
    # The appeal's tracking id, which its appellant holds: published pseudonymised.
    appeal: PersonRef
    decision: int
    party: str


class AppealDecided(AuditEvent):
    """One appeal answered by a new decision.

    Entries written before this event existed recorded one ``reports.appeal.decided`` per
    decision, with ``appeals`` (their tracking ids, published pseudonymised) and
    ``outcomes`` and no ``appeal``: reports of formats 1 to 3 counted none of them as
    decided, and are recomputed so; from format 4 they count (``figures.Log``)."""

    action: ClassVar[str] = "reports.appeal.decided"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"appeals", "outcomes"})
    appeal: PersonRef | None = None
    outcome: str | None = None
    decision: int
    appeals: list[PersonRef] | None = None
    outcomes: dict[str, int] | None = None


class DisputeSubmitted(AuditEvent):
    action: ClassVar[str] = "reports.dispute.submitted"
    dispute: PersonRef
    settlement_body: str


class DisputeDecided(AuditEvent):
    action: ClassVar[str] = "reports.dispute.decided"
    dispute: PersonRef
    outcome: str
    implemented: bool


class _Standing(AuditEvent):
    """A warning or a suspension under DSA Art. 23: a suspension says until when."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"until"})
    until: str | None = None


class ReporterWarned(_Standing):
    action: ClassVar[str] = "reports.reporter_warning"


class ReporterSuspended(_Standing):
    action: ClassVar[str] = "reports.reporter_suspended"


class AccountWarned(_Standing):
    action: ClassVar[str] = "reports.account_warning"


class AccountSuspended(_Standing):
    action: ClassVar[str] = "reports.account_suspended"


class ComplaintUnfounded(AuditEvent):
    """A decided complaint marked manifestly unfounded (Art. 23(2))."""

    action: ClassVar[str] = "reports.appeal.unfounded"
    appeal: PersonRef
    party: str


class ComplainantWarned(_Standing):
    action: ClassVar[str] = "reports.complainant_warning"


class ComplainantSuspended(_Standing):
    action: ClassVar[str] = "reports.complainant_suspended"

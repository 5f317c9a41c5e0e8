"""What the legal domain records in the audit log, one event per action.

Targets are ``order:<reference>`` (or ``authority:<code>``, ``account:<user id>``) and
the country is the order's; neither is part of the details. The transparency figures read
``OrderReceived``, ``OrderChecked``, ``OrderReviewed``, ``OrderDecided``,
``OrderWithdrawn``, ``EmergencyNotConfirmed``, ``OrderActed`` and ``DisclosureReleased``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

from rempart.audit.events import AuditEvent, PersonRef

# -- intake and checks -------------------------------------------------------------------


class OrderReceived(AuditEvent):
    """An order to provide information (``targets``) or to act (``items``, scope, due)."""

    action: ClassVar[str] = "legal.order.received"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"targets", "items", "territorial_scope", "delay_informing_owner", "due_at"}
    )

    authority: str
    kid: str
    order_type: str
    offence_category: str
    categories: list[str]
    emergency: bool
    document_sha256: str | None
    targets: int | None = None
    items: int | None = None
    territorial_scope: list[str] | None = None
    delay_informing_owner: bool | None = None
    due_at: str | None = None


class OrderRefusedAtIntake(AuditEvent):
    action: ClassVar[str] = "legal.order.refused_at_intake"
    code: str


class OrderChecked(AuditEvent):
    action: ClassVar[str] = "legal.order.checked"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"category_outcomes", "risk_flags"})

    status: str
    checks: dict[str, str]
    # Orders to provide information only: each requested category's outcome so far.
    category_outcomes: dict[str, str] | None = None
    risk_flags: list[str] | None = None


# -- review and decision -----------------------------------------------------------------


class OrderReviewed(AuditEvent):
    action: ClassVar[str] = "legal.order.reviewed"
    decision: str
    categories: list[str]
    targets: int
    refusal_grounds: list[str]
    risk_flags: list[str]


class OrderDecided(AuditEvent):
    """Both reviews in (information orders) or an order to act decided."""

    action: ClassVar[str] = "legal.order.decided"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"order_type", "category_outcomes", "approved_targets", "refusal_grounds", "emergency"}
    )

    status: str
    order_type: str | None = None
    category_outcomes: dict[str, str] | None = None
    approved_targets: int | None = None
    refusal_grounds: list[str] | None = None
    emergency: bool | None = None


class EmergencyConfirmed(AuditEvent):
    action: ClassVar[str] = "legal.order.emergency_confirmed"
    late: bool


class EmergencyNotConfirmed(AuditEvent):
    action: ClassVar[str] = "legal.order.emergency_not_confirmed"
    reason: str
    disclosed: bool
    emergency: bool = True


class OrderValidated(AuditEvent):
    action: ClassVar[str] = "legal.order.validated"
    validating_authority: str
    kid: str
    late: bool


class OrderWithdrawn(AuditEvent):
    action: ClassVar[str] = "legal.order.withdrawn"


class OrderClosed(AuditEvent):
    action: ClassVar[str] = "legal.order.closed"


class OrderOverdue(AuditEvent):
    action: ClassVar[str] = "legal.order.overdue"
    due_at: str
    emergency: bool


class ValidationOverdue(AuditEvent):
    action: ClassVar[str] = "legal.order.validation_overdue"
    validation_due_at: str | None


class OrderCallback(AuditEvent):
    action: ClassVar[str] = "legal.order.callback"
    outcome: str
    called_at: str
    contact_registered_at: str


# -- reads of personal data --------------------------------------------------------------


class OrderRead(AuditEvent):
    action: ClassVar[str] = "legal.order.read"


class OrderDocumentRead(AuditEvent):
    action: ClassVar[str] = "legal.order.document.read"


# -- disclosure --------------------------------------------------------------------------


class DisclosurePreviewed(AuditEvent):
    action: ClassVar[str] = "legal.disclosure.previewed"


class DisclosureReleased(AuditEvent):
    action: ClassVar[str] = "legal.disclosure.released"
    sha256: str
    # The names of the disclosed fields, never their values.
    fields: list[str]
    accounts: int
    # Keyed references of the users disclosed (blind indexes, never user ids), so that
    # reports count distinct users.
    users: list[PersonRef]
    ip_records: int
    notification_due_at: str


class DisclosureDownloaded(AuditEvent):
    action: ClassVar[str] = "legal.disclosure.downloaded"
    sha256: str
    download: int


class NotificationSent(AuditEvent):
    action: ClassVar[str] = "legal.notification.sent"
    notification: int


# -- orders to act -----------------------------------------------------------------------


class ActionConfirmed(AuditEvent):
    action: ClassVar[str] = "legal.order.action_confirmed"
    due_at: str


class ActHeld(AuditEvent):
    action: ClassVar[str] = "legal.order.act_held"
    reason: str


class OrderActed(AuditEvent):
    action: ClassVar[str] = "legal.order.acted"
    order_type: str
    actions: dict[str, int]
    territorial_scope: list[str]
    minutes_to_act: float
    within_deadline: bool
    evidence_until: str


class AuthorityInformed(AuditEvent):
    action: ClassVar[str] = "legal.order.authority_informed"
    outcome: str
    items: int


class OwnerNoticeScheduled(AuditEvent):
    action: ClassVar[str] = "legal.owner_notice.scheduled"
    owners: int
    delayed: bool
    due_at: str


class OrderPutOnHold(AuditEvent):
    action: ClassVar[str] = "legal.order.put_on_hold"
    reason: str


class OrderHoldLifted(AuditEvent):
    action: ClassVar[str] = "legal.order.hold_lifted"
    reason: str


# -- legal holds (preservation) ----------------------------------------------------------


class HoldPlaced(AuditEvent):
    action: ClassVar[str] = "legal.hold.placed"
    accounts: int
    expires_at: str


class HoldReleased(AuditEvent):
    action: ClassVar[str] = "legal.hold.released"
    holds: int


class HoldExtended(AuditEvent):
    action: ClassVar[str] = "legal.hold.extended"
    expires_at: str


class HoldExpired(AuditEvent):
    action: ClassVar[str] = "legal.hold.expired"
    expired_at: str | None


# -- authorities and protected accounts --------------------------------------------------


class AuthorityCreated(AuditEvent):
    action: ClassVar[str] = "legal.authority.create"
    kind: str
    status: str
    parent: str | None
    competences: list[str]


class AuthorityKeyAdded(AuditEvent):
    action: ClassVar[str] = "legal.authority.key.add"
    kid: str


class AuthorityKeyRevoked(AuditEvent):
    action: ClassVar[str] = "legal.authority.key.revoke"
    kid: str


class AuthorityStatusChanged(AuditEvent):
    action: ClassVar[str] = "legal.authority.status"
    # "from" is a Python keyword: the field is renamed, the entry's key is not.
    from_: str = Field(serialization_alias="from", validation_alias=AliasChoices("from", "from_"))
    to: str


class AuthorityContactChanged(AuditEvent):
    action: ClassVar[str] = "legal.authority.contact"
    changed_at: str


class ProtectedAccountMarked(AuditEvent):
    action: ClassVar[str] = "legal.protected_account.marked"
    category: str


class ProtectedAccountUnmarked(AuditEvent):
    action: ClassVar[str] = "legal.protected_account.unmarked"

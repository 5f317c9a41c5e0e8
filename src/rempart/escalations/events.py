"""What threat escalations (DSA Art. 18) record in the audit log. Targets are the
escalation; the country is the member state notified. The transparency figures read
``NotificationSent``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rempart.audit.events import AuditEvent


class ThreatEscalated(AuditEvent):
    action: ClassVar[str] = "escalations.threat.escalated"
    item: str
    recipient: str
    member_state_basis: str


class NotificationRead(AuditEvent):
    action: ClassVar[str] = "escalations.notification.read"
    state: str


class NotificationConfirmed(AuditEvent):
    action: ClassVar[str] = "escalations.notification.confirmed"
    recipient: str


class NotificationSent(AuditEvent):
    action: ClassVar[str] = "escalations.notification.sent"
    recipient: str
    # Under Art. 18(2), Europol beside the Member State of establishment.
    copies: list[str] = Field(default_factory=list)
    member_state: str
    hours_to_send: float


class ThreatDeclined(AuditEvent):
    action: ClassVar[str] = "escalations.threat.declined"

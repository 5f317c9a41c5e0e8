"""What threat escalations (DSA Art. 18) record in the audit log. Targets are the
escalation; the country is the member state notified. The transparency figures read
``NotificationSent``."""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class ThreatEscalated(AuditEvent):
    action: ClassVar[str] = "escalations.threat.escalated"
    item: str
    recipient: str
    member_state_basis: str


class NotificationRead(AuditEvent):
    action: ClassVar[str] = "escalations.notification.read"
    state: str


class NotificationSent(AuditEvent):
    action: ClassVar[str] = "escalations.notification.sent"
    recipient: str
    member_state: str
    hours_to_send: float


class ThreatDeclined(AuditEvent):
    action: ClassVar[str] = "escalations.threat.declined"

"""What the notifier records in the audit log: that a message went, by which notifier,
and what became of a webhook delivery. Messages are named by their key, never by what
they say (personal data stays out of the log)."""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class MessageSent(AuditEvent):
    action: ClassVar[str] = "notify.sent"
    kind: str
    channel: str
    via: str


class WebhookDelivered(AuditEvent):
    action: ClassVar[str] = "notify.webhook.delivered"
    delivery: int
    kind: str
    attempts: int


class WebhookDeadLettered(AuditEvent):
    action: ClassVar[str] = "notify.webhook.dead_lettered"
    delivery: int
    kind: str
    attempts: int
    error: str


class WebhookReplayed(AuditEvent):
    action: ClassVar[str] = "notify.webhook.replayed"
    delivery: int
    kind: str
    previous_state: str

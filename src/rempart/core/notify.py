"""The notifier port: every message Rempart sends to users and to authorities (disclosure
and removal notices, statements of reasons, decisions on notices and appeals, DSA Art. 9
and Art. 18 notifications) goes through one ``Notifier``, chosen in settings
(``REMPART_NOTIFIER``) and held by the runtime.

It sits in ``core`` so that the runtime can hold it; the audited entry point that domains
call, and the webhook's delivery, signature and replay, are in ``rempart.notify``.

Both implementations send in the caller's transaction, so a message is never marked sent
without having gone: the outbox appends a line to a local file (the default, which works
offline); the webhook stores the message, encrypted, in ``webhook_deliveries``, and the
worker posts it after the commit, with retries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.models import WebhookDelivery
from rempart.core.outbox import append_json_lines
from rempart.core.settings import Settings

# Webhook bodies hold personal data (user ids, appeal links' secrets; phone numbers and
# IP addresses in Art. 18 notifications): encrypted at rest under this purpose.
WEBHOOK_BODY_PURPOSE = "notify.webhook.body"


class Channel(StrEnum):
    # Users' notices, and authorities' notices that hold no personal data (Art. 9(1)).
    NOTIFICATIONS = "notifications"
    # Art. 18 notifications, which carry personal data: for the platform's law-enforcement
    # liaison only, never where the users' notices go.
    AUTHORITY = "authority"


@dataclass(frozen=True)
class Message:
    """One message. ``kind`` is its ``type`` as receivers read it; ``key`` names it for good
    (a repeat carries the same key, for the receiver to drop); ``body`` is what it says."""

    kind: str
    key: str
    body: dict[str, Any]
    channel: Channel = Channel.NOTIFICATIONS


class Notifier(Protocol):
    name: str

    def send(self, session: Session, message: Message, *, now: datetime) -> None:
        """Send, or durably plan to send, in the caller's transaction."""
        ...


class OutboxNotifier:
    """One JSON line per message, ``{"type": kind, **body}``, in the channel's file (mode
    0600) that the platform tails. A line may appear twice after a crash between the
    write and the commit; the body's identifier lets the reader drop the repeat."""

    name = "outbox"

    def __init__(self, *, notifications: Path, authority: Path) -> None:
        self.paths = {Channel.NOTIFICATIONS: notifications, Channel.AUTHORITY: authority}

    def send(self, session: Session, message: Message, *, now: datetime) -> None:
        # Written (and synced once per file) just before the transaction commits: still
        # durable before the messages are marked sent, and one fsync for a whole batch
        # (statements of reasons, notices' acknowledgements) instead of one per message.
        # A transaction rolled back writes nothing.
        pending: dict[Path, list[dict[str, Any]]] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = {}
            event.listen(session, "before_commit", _write_pending, once=True)
            event.listen(session, "after_rollback", _drop_pending, once=True)
        path = self.paths[message.channel]
        pending.setdefault(path, []).append({"type": message.kind, **message.body})


_PENDING = "rempart.outbox.pending"


def _write_pending(session: Session) -> None:
    for path, records in (session.info.pop(_PENDING, None) or {}).items():
        append_json_lines(path, records)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


class WebhookNotifier:
    """Stores the message for the worker to post (``rempart.notify.webhook``). A channel
    with no webhook URL keeps its outbox file: Art. 18 notifications never go to the
    users' notices endpoint."""

    name = "webhook"

    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        self.keys = keys
        self.urls = {
            Channel.NOTIFICATIONS: settings.notify_webhook_url,
            Channel.AUTHORITY: settings.notify_authority_webhook_url,
        }
        self.fallback = OutboxNotifier(
            notifications=settings.notification_outbox, authority=settings.authority_outbox
        )

    def send(self, session: Session, message: Message, *, now: datetime) -> None:
        if self.urls[message.channel] is None:
            self.fallback.send(session, message, now=now)
            return
        body = json.dumps(message.body, ensure_ascii=False, sort_keys=True).encode()
        session.add(
            WebhookDelivery(
                kind=message.kind,
                message_key=message.key,
                channel=message.channel.value,
                body_ciphertext=self.keys.encrypt_bytes(body, purpose=WEBHOOK_BODY_PURPOSE),
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


def build_notifier(settings: Settings, keys: KeyRing) -> Notifier:
    if settings.notifier == "webhook":
        return WebhookNotifier(settings, keys)
    return OutboxNotifier(
        notifications=settings.notification_outbox, authority=settings.authority_outbox
    )


register_encrypted_column(
    WebhookDelivery, WebhookDelivery.id, WebhookDelivery.body_ciphertext, WEBHOOK_BODY_PURPOSE
)

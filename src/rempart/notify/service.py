"""The one way a domain sends a message: through the runtime's notifier, audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.notify import Message, Notifier
from rempart.notify import events


def send(
    session: Session, notifier: Notifier, message: Message, *, actor: str, now: datetime
) -> None:
    """Send in the caller's transaction and record that it went, by which notifier. The
    entry names the message by its key; what it says (personal data) stays out."""
    notifier.send(session, message, now=now)
    audit.record(
        session,
        events.MessageSent(kind=message.kind, channel=message.channel.value, via=notifier.name),
        actor=actor,
        target=message.key,
    )

"""Background work on notices: filing them into cases (with raid assessment), and sending
messages to the people decisions concern."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rempart.core.clock import utcnow
from rempart.core.deps import Runtime
from rempart.reports import intake, notices


def file_notices(session: Session, rt: Runtime) -> int:
    return intake.file_pending(session, settings=rt.settings, now=utcnow())


def deliver(session: Session, rt: Runtime) -> None:
    notices.deliver(session, keys=rt.keys, outbox=rt.settings.notification_outbox, now=utcnow())

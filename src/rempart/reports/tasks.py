"""Background work on notices: filing them into cases (with raid assessment), and sending
messages to the people decisions concern."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rempart.core.deps import Runtime
from rempart.reports import intake, notices


def file_notices(session: Session, rt: Runtime) -> int:
    return intake.file_pending(session, settings=rt.settings, now=rt.now())


def deliver(session: Session, rt: Runtime) -> None:
    notices.deliver(session, keys=rt.keys, notifier=rt.notifier, now=rt.now())

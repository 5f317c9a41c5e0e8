"""Background work on notices: raid assessment of cases, and sending notices to people."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.core.clock import utcnow
from rempart.core.deps import Runtime
from rempart.reports import notices, raids
from rempart.reports.intake import ASSESS_JOB


def assess(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    raids.assess(session, rt.settings, case_id=int(payload["case_id"]), now=utcnow())


def deliver(session: Session, rt: Runtime) -> None:
    notices.deliver(session, rt.keys, outbox=rt.settings.notification_outbox, now=utcnow())


JOB_HANDLERS = {ASSESS_JOB: assess}

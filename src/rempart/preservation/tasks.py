"""The worker's share: purge the evidence whose legal period has ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rempart.core.deps import Runtime
from rempart.preservation import service


def run_purge(session: Session, rt: Runtime, *, now: datetime | None = None) -> int:
    return service.purge_expired(session, now=now or rt.now())

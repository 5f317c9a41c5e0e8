from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.core.deps import Runtime
from rempart.platform import service

WORKER_ACTOR = "system:worker"


def hash_media(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    service.hash_pending_media(
        session,
        media_ids=payload["media_ids"],
        actor=WORKER_ACTOR,
        keys=rt.keys,
        review_days=rt.settings.media_review_days,
    )


def run_retention(session: Session, rt: Runtime) -> None:
    service.purge_connections(
        session, retention_days=rt.settings.ip_retention_days, actor=WORKER_ACTOR
    )


JOB_HANDLERS = {service.MEDIA_HASH_JOB: hash_media}

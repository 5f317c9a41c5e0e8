from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform import service

WORKER_ACTOR = "system:worker"


_DIGESTS = "_digests"  # not JSON: set by prepare_hash_media, never stored
_PREVIEWS = "_previews"  # idem


def prepare_hash_media(rt: Runtime, payload: dict[str, Any]) -> dict[str, Any]:
    """Decode, hash and blur the images with no transaction open."""
    with transaction(rt.engine, readonly=True) as session:
        digests = service.hash_pending_images(session, media_ids=payload["media_ids"])
        previews = (
            service.review_previews(session, media_ids=payload["media_ids"])
            if rt.settings.media_review_days
            else {}
        )
    return {**payload, _DIGESTS: digests, _PREVIEWS: previews}


def hash_media(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    service.hash_pending_media(
        session,
        media_ids=payload["media_ids"],
        actor=WORKER_ACTOR,
        keys=rt.keys,
        review_days=rt.settings.media_review_days,
        digests=payload.get(_DIGESTS),
        previews=payload.get(_PREVIEWS),
    )


def run_retention(session: Session, rt: Runtime) -> None:
    service.purge_connections(
        session, retention_days=rt.settings.ip_retention_days, actor=WORKER_ACTOR
    )


JOB_HANDLERS = {service.MEDIA_HASH_JOB: hash_media}
# Run before the handler's write transaction, with none open.
JOB_PREPARERS = {service.MEDIA_HASH_JOB: prepare_hash_media}

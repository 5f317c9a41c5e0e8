"""Ingest hooks: what moderation does with what the platform ingests, without platform
importing it. A new or changed post or entity is scanned (and reaches search only through
that scan); an inline image is kept, encrypted and blurred, for review. Moderation
subscribes when ``moderation/tasks.py`` is imported; ingest fails loudly before that, since
content that skipped its scan would never be checked."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from rempart.core.crypto import KeyRing

# A preview not computed beforehand (moderation computes it then).
UNKNOWN_PREVIEW = b""


class EnqueueScan(Protocol):
    def __call__(self, session: Session, *, entity_ids: list[str], post_ids: list[str]) -> None: ...


class KeepForReview(Protocol):
    def __call__(
        self,
        session: Session,
        *,
        keys: KeyRing,
        media_id: int,
        content: bytes,
        days: int,
        now: datetime,
        preview: bytes | None = UNKNOWN_PREVIEW,
    ) -> None: ...


class BlurredPreview(Protocol):
    def __call__(self, content: bytes) -> bytes | None: ...


class _Subscribers:
    enqueue_scan: EnqueueScan | None = None
    keep_for_review: KeepForReview | None = None
    blurred_preview: BlurredPreview | None = None


_subscribers = _Subscribers()


class NotSubscribed(RuntimeError):
    """A process ingested before moderation was imported."""


def subscribe_moderation(
    *, enqueue_scan: EnqueueScan, keep_for_review: KeepForReview, blurred_preview: BlurredPreview
) -> None:
    _subscribers.enqueue_scan = enqueue_scan
    _subscribers.keep_for_review = keep_for_review
    _subscribers.blurred_preview = blurred_preview


def _moderation() -> _Subscribers:
    if _subscribers.enqueue_scan is None:
        raise NotSubscribed("moderation has not subscribed to ingest (import moderation.tasks).")
    return _subscribers


def enqueue_scan(session: Session, *, entity_ids: list[str], post_ids: list[str]) -> None:
    scan = _moderation().enqueue_scan
    assert scan is not None
    scan(session, entity_ids=entity_ids, post_ids=post_ids)


def keep_for_review(
    session: Session,
    keys: KeyRing,
    *,
    media_id: int,
    content: bytes,
    days: int,
    now: datetime,
    preview: bytes | None = UNKNOWN_PREVIEW,
) -> None:
    keep = _moderation().keep_for_review
    assert keep is not None
    keep(
        session, keys=keys, media_id=media_id, content=content, days=days, now=now, preview=preview
    )


def blurred_preview(content: bytes) -> bytes | None:
    blur = _moderation().blurred_preview
    assert blur is not None
    return blur(content)

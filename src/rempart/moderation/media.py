"""Images under review. Moderators see a small, blurred, grey preview by default, which is
usually enough to confirm a hash match and spares them the worst of what they review.
When it is not enough, a moderator may reveal the original, giving a reason; every reveal
is audited. The original is kept encrypted, and only for ``media_review_days``, or until a
moderator has decided on the post, whichever comes first. Images that arrive only as
hashes have no preview: Rempart never had them.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.crypto import KeyRing
from rempart.moderation import events
from rempart.moderation.exceptions import ItemClaimed, MediaNotFound, MediaNotHeld
from rempart.moderation.models import ModerationItem, ReviewMedia
from rempart.platform import hooks as platform_hooks
from rempart.platform.media import open_image
from rempart.platform.models import PostMedia

PREVIEW_PIXELS = 96
BLUR_RADIUS = 4
PURPOSE = "moderation.media.original"


def blurred_preview(content: bytes) -> bytes | None:
    from PIL import ImageFilter, ImageOps  # loaded with the first image, not at start-up

    image = open_image(content)
    if image is None:
        return None
    with image:
        small = ImageOps.grayscale(image.convert("RGB"))
        small.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
        out = io.BytesIO()
        small.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)).save(out, format="PNG")
    return out.getvalue()


# ``keep_for_review`` makes the preview itself when none was made beforehand.
UNKNOWN_PREVIEW = platform_hooks.UNKNOWN_PREVIEW


def keep_for_review(
    session: Session,
    *,
    keys: KeyRing,
    media_id: int,
    content: bytes,
    days: int,
    now: datetime,
    preview: bytes | None = UNKNOWN_PREVIEW,
) -> None:
    """Keep the image, encrypted, and its blurred preview (None: the image cannot be read,
    and nothing is kept)."""
    if preview == UNKNOWN_PREVIEW:
        preview = blurred_preview(content)
    if preview is None:
        return
    session.merge(
        ReviewMedia(
            media_id=media_id,
            preview=preview,
            original=keys.encrypt_bytes(content, purpose=PURPOSE),
            kept_until=now + timedelta(days=days),
        )
    )


def _held(session: Session, media_id: int, now: datetime) -> tuple[ReviewMedia, PostMedia]:
    media = session.get(PostMedia, media_id)
    held = session.get(ReviewMedia, media_id)
    if media is None:
        raise MediaNotFound("No media has this id.")
    if held is None or as_utc(held.kept_until) <= now:
        raise MediaNotHeld("Rempart holds only the hashes of this image.")
    return held, media


def preview(session: Session, *, media_id: int) -> bytes:
    held, _ = _held(session, media_id, now_of(session))
    return held.preview


def reveal(session: Session, *, keys: KeyRing, caller: Caller, media_id: int, reason: str) -> bytes:
    """The original image, for a moderator whose review needs it; audited with the reason."""
    now = now_of(session)
    held, media = _held(session, media_id, now)
    item = session.execute(
        select(ModerationItem).where(
            ModerationItem.kind == "post", ModerationItem.ref == media.post_id
        )
    ).scalar_one_or_none()
    if item is None or not item.pending_review:
        raise MediaNotHeld("This image's post is not waiting for review.")
    if (
        item.claimed_by not in (None, caller.principal_id)
        and item.claimed_until is not None
        and as_utc(item.claimed_until) > now
    ):
        raise ItemClaimed("Another moderator holds this item.")
    audit.record(
        session,
        events.MediaRevealed(media_id=media_id, reason=reason),
        actor=caller.actor,
        target=f"post:{media.post_id}",
    )
    return keys.decrypt_bytes(held.original, purpose=PURPOSE)


def media_type(content: bytes) -> str:
    from PIL import Image  # loaded with the first image, not at start-up

    image = open_image(content)
    if image is None:
        return "application/octet-stream"
    with image:
        return str(Image.MIME.get(image.format or "", "application/octet-stream"))


def forget_post_media(session: Session, *, post_id: str) -> None:
    """A decided post's originals are no longer needed for review."""
    ids = select(PostMedia.id).where(PostMedia.post_id == post_id)
    session.execute(
        delete(ReviewMedia)
        .where(ReviewMedia.media_id.in_(ids))
        .execution_options(synchronize_session=False)
    )


def purge_expired(session: Session, *, now: datetime) -> int:
    result = session.execute(
        delete(ReviewMedia)
        .where(ReviewMedia.kept_until <= now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

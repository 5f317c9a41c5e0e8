"""The moderators' JSON API: the review queue, claiming, decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.core.errors import NotFound
from rempart.moderation import evidence, media, queue
from rempart.moderation.schemas import (
    DecisionCreate,
    DecisionRead,
    ItemEvidence,
    QueueItem,
    QueuePage,
    RevealRequest,
)

# Review images must not linger in shared caches or browser histories.
PRIVATE = {"Cache-Control": "no-store"}

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

Moderator = Annotated[Caller, Depends(require(Permission.MODERATION_DECIDE))]
Rt = Annotated[Runtime, Depends(runtime)]
Category = Annotated[str | None, Query(pattern=r"^[a-z_]{2,24}$")]
Reason = Annotated[str | None, Query(pattern=r"^[a-z_]{2,24}$")]
Source = Annotated[
    Literal["rules", "hash", "classifier", "reports"] | None,
    Query(description="Only items where a signal of this kind fired."),
]
MediaId = Annotated[int, Path(ge=1, le=2**62)]
ItemId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/queue", response_model=QueuePage)
def list_queue(
    caller: Moderator,
    rt: Rt,
    category: Category = None,
    reason: Reason = None,
    source: Source = None,
    older_than_hours: Annotated[int | None, Query(ge=0, le=24 * 365)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    order: Literal["priority", "oldest", "reach"] = "priority",
) -> QueuePage:
    with rt.unit_of_work(readonly=True) as session:
        return queue.list_queue(
            session,
            where=queue.QueueFilter(category, reason, source, viewer=caller),
            older_than=timedelta(hours=older_than_hours) if older_than_hours is not None else None,
            limit=limit,
            offset=offset,
            order=order,
        )


@router.post("/queue/claim", response_model=QueueItem, responses={204: {"description": "Empty"}})
def claim_next(
    caller: Moderator,
    rt: Rt,
    category: Category = None,
    reason: Reason = None,
    source: Source = None,
) -> QueueItem | Response:
    with rt.unit_of_work() as session:
        where = queue.QueueFilter(category, reason, source)
        item = queue.claim_next(session, caller=caller, where=where)
    return item if item is not None else Response(status_code=204)


@router.get("/items/{item_id}", response_model=ItemEvidence)
def item_evidence(item_id: ItemId, caller: Moderator, rt: Rt) -> ItemEvidence:
    """The item with everything behind it: notices, raid signals, appeals, history."""
    with rt.unit_of_work(readonly=True) as session:
        return evidence.of_item(session, item_id=item_id)


@router.post("/items/{item_id}/claim", response_model=QueueItem)
def claim_item(item_id: ItemId, caller: Moderator, rt: Rt) -> QueueItem:
    """Hold one item for 15 minutes: only its holder may decide it."""
    with rt.unit_of_work() as session:
        return queue.claim(session, caller=caller, item_id=item_id)


@router.get("/media/{media_id}/preview", response_class=Response)
def media_preview(media_id: MediaId, caller: Moderator, rt: Rt) -> Response:
    """A small, blurred, grey preview of an image under review (PNG)."""
    with rt.unit_of_work(readonly=True) as session:
        png = media.preview(session, media_id=media_id)
    return Response(png, media_type="image/png", headers=PRIVATE)


@router.post("/media/{media_id}/reveal", response_class=Response)
def media_reveal(media_id: MediaId, body: RevealRequest, caller: Moderator, rt: Rt) -> Response:
    """The original image, when the preview is not enough to decide; the reveal and its
    reason go into the audit log."""
    with rt.unit_of_work() as session:
        original = media.reveal(
            session, keys=rt.keys, caller=caller, media_id=media_id, reason=body.reason
        )
    return Response(original, media_type=media.media_type(original), headers=PRIVATE)


@router.post("/decisions", response_model=DecisionRead, status_code=201)
def decide(body: DecisionCreate, caller: Moderator, rt: Rt) -> DecisionRead:
    return queue.decide_recorded(rt, caller=caller, data=body)


@router.get("/statements/{puid}")
def get_statement(
    puid: Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")], caller: Moderator, rt: Rt
) -> dict[str, Any]:
    """A statement of reasons as the DSA Transparency Database receives it."""
    with rt.unit_of_work(readonly=True) as session:
        statement = queue.statement_of(session, puid=puid)
        if statement is None:
            raise NotFound("No statement of reasons has this puid.", code="statement_not_found")
        return dict(statement.payload)

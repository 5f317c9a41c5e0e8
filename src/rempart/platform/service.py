"""Ingest of platform events, and retention of connection records."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import utcnow
from rempart.core.crypto import KeyRing
from rempart.core.jobs import enqueue
from rempart.platform.exceptions import InvalidEvents, PrivateContentRefused
from rempart.platform.models import (
    Account,
    AccountIdentity,
    Connection,
    Entity,
    IngestedEvent,
    LegalHold,
    PendingImage,
    Post,
    PostMedia,
)
from rempart.platform.schemas import (
    PRIVATE_EVENT_PREFIXES,
    AccountEvent,
    ConnectionSeen,
    EntityDeleted,
    EntityEvent,
    EventBatch,
    IngestResult,
    ItemResult,
    PlatformEvent,
    PostDeleted,
    PostEvent,
    event_batch_adapter,
)

MEDIA_HASH_JOB = "platform.hash_media"


# -- parsing --------------------------------------------------------------------------


def _describe_error(error: Any) -> dict[str, Any]:
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
        # loc is ('events', i, '<type tag>', field, ...): the tag is noise for the caller.
        index: int | None = loc[1]
        field_path = [str(p) for p in loc[3:]]
    else:
        index, field_path = None, [str(p) for p in loc]
    kind = error["type"]
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        if tag.startswith(PRIVATE_EVENT_PREFIXES):
            return _item(
                index,
                None,
                "private_content_refused",
                "Private conversations are never taken: Rempart holds no private-message content.",
            )
        return _item(
            index, "type", "unknown_event_type", "The event type is not one Rempart takes."
        )
    if kind == "union_tag_not_found":
        return _item(index, "type", "missing_event_type", "Every event needs a 'type'.")
    if kind == "literal_error" and field_path and field_path[-1] == "visibility":
        return _item(
            index,
            "visibility",
            "private_content_refused",
            "Only public entities and posts are taken; private chats are refused.",
        )
    if kind == "extra_forbidden":
        return _item(
            index, ".".join(field_path), "unknown_field", "This field is not part of the schema."
        )
    if kind == "json_invalid":
        return _item(None, None, "invalid_json", "The body is not valid JSON.")
    # Pydantic's own messages describe the rule, not the submitted value.
    return _item(index, ".".join(field_path) or None, kind, str(error["msg"]))


def _item(index: int | None, field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": message}


def parse_batch(body: bytes) -> EventBatch:
    try:
        return event_batch_adapter.validate_json(body)
    except ValidationError as exc:
        items = [_describe_error(e) for e in exc.errors(include_url=False, include_input=False)]
        if any(i["code"] == "private_content_refused" for i in items):
            raise PrivateContentRefused(
                "The batch carries private-message content; nothing of it was stored.", items=items
            ) from None
        raise InvalidEvents(
            "The batch was refused; nothing of it was stored.", items=items
        ) from None


# -- ingest ---------------------------------------------------------------------------


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model)


def ingest(
    session: Session, *, keys: KeyRing, batch: EventBatch, body_digest: str, actor: str
) -> IngestResult:
    """Store the batch's new events; events already seen (by id) are acknowledged, not stored."""
    batch_id = f"b_{secrets.token_hex(8)}"
    now = utcnow()
    first_index: dict[str, int] = {}
    for index, item in enumerate(batch.events):
        first_index.setdefault(item.id, index)
    candidates = [batch.events[i] for i in first_index.values()]
    fresh_ids = set(
        session.execute(
            _insert(session, IngestedEvent)
            .on_conflict_do_nothing()
            .returning(IngestedEvent.event_id),
            [
                {"event_id": e.id, "event_type": e.type, "batch_id": batch_id, "received_at": now}
                for e in candidates
            ],
        ).scalars()
    )
    fresh = [e for e in candidates if e.id in fresh_ids]
    _apply(session, keys=keys, events=fresh)

    items = [
        ItemResult(
            index=index,
            id=item.id,
            status="stored"
            if item.id in fresh_ids and first_index[item.id] == index
            else "duplicate",
        )
        for index, item in enumerate(batch.events)
    ]
    stored = len(fresh)
    audit.record(
        session,
        actor=actor,
        action="platform.ingest",
        target=f"batch:{batch_id}",
        details={
            "batch_digest": body_digest,
            "stored_by_type": dict(Counter(e.type for e in fresh)),
            "stored": stored,
            "duplicates": len(items) - stored,
        },
    )
    return IngestResult(
        batch_id=batch_id, stored=stored, duplicates=len(items) - stored, items=items
    )


def _apply(session: Session, *, keys: KeyRing, events: Sequence[PlatformEvent]) -> None:
    accounts = [e for e in events if isinstance(e, AccountEvent)]
    connections = [e for e in events if isinstance(e, ConnectionSeen)]
    entities = [e for e in events if isinstance(e, EntityEvent | EntityDeleted)]
    posts = [e for e in events if isinstance(e, PostEvent | PostDeleted)]
    if accounts:
        _apply_accounts(session, keys=keys, events=accounts)
    if connections:
        session.execute(
            _insert(session, Connection),
            [
                {
                    "user_id": e.user_id,
                    "ip_ciphertext": keys.encrypt(e.ip, purpose="ip"),
                    "ip_index": keys.ip_index(e.ip),
                    "network_index": keys.network_index(e.ip),
                    "port": e.port,
                    "seen_at": e.occurred_at,
                    "user_agent": e.user_agent,
                }
                for e in connections
            ],
        )
    if entities:
        _apply_entities(session, events=entities)
    if posts:
        _apply_posts(session, events=posts)


def _latest_per_key(events: Sequence[Any], key: str) -> list[Any]:
    latest: dict[str, Any] = {}
    for item in sorted(events, key=lambda e: e.occurred_at):
        latest[getattr(item, key)] = item
    return list(latest.values())


def _apply_accounts(session: Session, *, keys: KeyRing, events: Sequence[AccountEvent]) -> None:
    def phone_fields(e: AccountEvent) -> dict[str, Any]:
        if e.phone_number is None:
            return {"phone_ciphertext": None, "phone_index": None, "phone_country": None}
        return {
            "phone_ciphertext": keys.encrypt(e.phone_number, purpose="phone"),
            "phone_index": keys.phone_index(e.phone_number),
            "phone_country": e.phone_country,
        }

    session.execute(
        _insert(session, AccountIdentity),
        [
            {
                "user_id": e.user_id,
                "valid_from": e.occurred_at,
                "username": e.username,
                "event_id": e.id,
                **phone_fields(e),
            }
            for e in events
        ],
    )
    for e in _latest_per_key(events, "user_id"):
        values = {
            "user_id": e.user_id,
            "username": e.username,
            "synthetic": e.synthetic,
            "registered_at": e.occurred_at,
            "state_at": e.occurred_at,
            **phone_fields(e),
        }
        statement = _insert(session, Account).values(**values)
        changes = {
            k: statement.excluded[k] for k in values if k not in ("user_id", "registered_at")
        }
        if e.type == "account.registered":
            changes["registered_at"] = statement.excluded.registered_at
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id"],
                set_=changes,
                where=Account.state_at <= statement.excluded.state_at,
            )
        )


def _apply_entities(session: Session, *, events: Sequence[EntityEvent | EntityDeleted]) -> None:
    for e in _latest_per_key(events, "entity_id"):
        if isinstance(e, EntityDeleted):
            session.execute(
                update(Entity)
                .where(Entity.entity_id == e.entity_id, Entity.state_at <= e.occurred_at)
                .values(deleted_at=e.occurred_at, state_at=e.occurred_at)
            )
            continue
        values = {
            "entity_id": e.entity_id,
            "kind": e.kind,
            "username": e.username,
            "title": e.title,
            "description": e.description,
            "owner_user_id": e.owner_user_id,
            "member_count": e.member_count,
            "published_at": e.occurred_at,
            "state_at": e.occurred_at,
            "deleted_at": None,
        }
        statement = _insert(session, Entity).values(**values)
        changes = {
            k: statement.excluded[k] for k in values if k not in ("entity_id", "published_at")
        }
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["entity_id"],
                set_=changes,
                where=Entity.state_at <= statement.excluded.state_at,
            )
        )


def _apply_posts(session: Session, *, events: Sequence[PostEvent | PostDeleted]) -> None:
    media_rows: list[tuple[str, int, Any]] = []
    for e in _latest_per_key(events, "post_id"):
        if isinstance(e, PostDeleted):
            # The platform took it down: keep the fact, drop the text (minimisation).
            session.execute(
                update(Post)
                .where(Post.post_id == e.post_id, Post.state_at <= e.occurred_at)
                .values(deleted_at=e.occurred_at, state_at=e.occurred_at, text=None)
            )
            continue
        values = {
            "post_id": e.post_id,
            "entity_id": e.entity_id,
            "text": e.text,
            "language": e.language,
            "published_at": e.occurred_at,
            "state_at": e.occurred_at,
            "deleted_at": None,
            "edited_at": e.occurred_at if e.type == "post.edited" else None,
        }
        statement = _insert(session, Post).values(**values)
        changes = {k: statement.excluded[k] for k in values if k not in ("post_id", "published_at")}
        result = session.execute(
            statement.on_conflict_do_update(
                index_elements=["post_id"],
                set_=changes,
                where=Post.state_at <= statement.excluded.state_at,
            ).returning(Post.id)
        )
        if result.first() is not None and e.media:
            session.execute(delete(PostMedia).where(PostMedia.post_id == e.post_id))
            media_rows.extend((e.post_id, position, m) for position, m in enumerate(e.media))
    if media_rows:
        _store_media(session, media_rows)


def _store_media(session: Session, media_rows: list[tuple[str, int, Any]]) -> None:
    pending: list[int] = []
    for post_id, position, m in media_rows:
        row = PostMedia(
            post_id=post_id,
            position=position,
            sha256=m.sha256,
            md5=m.md5,
            pdq=m.pdq,
            pdq_quality=m.pdq_quality,
            status="pending" if m.image_base64 is not None else "hashed",
        )
        session.add(row)
        session.flush()
        if m.image_base64 is not None:
            session.add(PendingImage(media_id=row.id, content=m.image_base64))
            pending.append(row.id)
    if pending:
        enqueue(session, kind=MEDIA_HASH_JOB, payload={"media_ids": pending})


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# -- media hashing --------------------------------------------------------------------


def hash_pending_media(session: Session, *, media_ids: Sequence[int], actor: str) -> int:
    """Hash inline images (SHA-256, MD5, PDQ), then forget their bytes."""
    from rempart.platform.media import hash_image

    done = 0
    for media_id in media_ids:
        pending = session.get(PendingImage, media_id)
        media = session.get(PostMedia, media_id)
        if pending is None or media is None:
            continue  # already hashed by an earlier, interrupted run
        digests = hash_image(pending.content)
        media.sha256, media.md5 = digests.sha256, digests.md5
        media.pdq, media.pdq_quality = digests.pdq, digests.pdq_quality
        media.status = "hashed" if digests.pdq is not None else "failed"
        session.delete(pending)
        done += 1
    if done:
        audit.record(session, actor=actor, action="platform.media.hash", details={"hashed": done})
    return done


# -- retention ------------------------------------------------------------------------


def purge_connections(
    session: Session, *, retention_days: int, actor: str, now: datetime | None = None
) -> int:
    """Delete connection records older than retention, except those a legal hold covers."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    held = exists().where(
        and_(
            LegalHold.user_id == Connection.user_id,
            LegalHold.expires_at > now,
            LegalHold.period_start <= Connection.seen_at,
            LegalHold.period_end >= Connection.seen_at,
        )
    )
    result = session.execute(
        delete(Connection)
        .where(Connection.seen_at < cutoff, ~held)
        .execution_options(synchronize_session=False)
    )
    purged = int(result.rowcount or 0)  # type: ignore[attr-defined]
    kept = (
        session.execute(select(Connection.id).where(Connection.seen_at < cutoff).limit(1)).first()
        is not None
    )
    audit.record(
        session,
        actor=actor,
        action="platform.retention.purge",
        details={
            "cutoff": cutoff.isoformat(),
            "purged": purged,
            "held_records_remain": kept,
            "retention_days": retention_days,
        },
    )
    return purged

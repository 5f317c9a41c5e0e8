"""Ingest of platform events, media hashing, and retention of connection records."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import compress
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, and_, case, delete, exists, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import now_of
from rempart.core.crypto import KeyRing
from rempart.core.db import (
    PreparedRows,
    dialect_insert,
    execute_many,
    is_sqlite_session,
    prepare_rows,
    run_prepared,
)
from rempart.core.jobs import enqueue
from rempart.platform import events as platform_events
from rempart.platform.hooks import enqueue_scan
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
)

if TYPE_CHECKING:
    from rempart.platform.media import ImageDigests

MEDIA_HASH_JOB = "platform.hash_media"
# Where ``seal`` puts every number of an account event, next to the first one's columns.
NUMBERS = "numbers"


# -- ingest ---------------------------------------------------------------------------


def _claim_event_ids(
    session: Session, rows: list[dict[str, Any]], prepared: PreparedRows
) -> set[str]:
    """Record the batch's event ids; return those never seen before."""
    table = cast(Table, IngestedEvent.__table__)
    if is_sqlite_session(session):
        # The transaction began IMMEDIATE and holds SQLite's only write lock: no other
        # writer can record the same id between this read and the insert.
        ids = [row["event_id"] for row in rows]
        seen: set[str] = set()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            seen.update(
                session.execute(
                    select(table.c.event_id).where(table.c.event_id.in_(chunk))
                ).scalars()
            )
        keep = [event_id not in seen for event_id in ids]
        run_prepared(session, prepared, keep)
        return set(compress(ids, keep))
    # On PostgreSQL a concurrent transaction may insert the same id; ON CONFLICT waits for it
    # and then skips, so each id is stored by exactly one transaction.
    statement = postgresql.insert(table).on_conflict_do_nothing().returning(table.c.event_id)
    return set(session.execute(statement, rows).scalars())


Sealed = dict[str, dict[str, Any]]


def seal(batch: EventBatch, *, keys: KeyRing) -> Sealed:
    """Ciphertexts and blind indexes of the batch's phone numbers and IPs, by event id.

    Done before the transaction opens, so that on SQLite the write lock is not held
    while encrypting (a duplicate event costs some wasted work, nothing more).
    """
    sealed: Sealed = {}
    for e in batch.events:
        if e.id in sealed:
            continue  # a repeated id: the first occurrence is the one stored
        if isinstance(e, ConnectionSeen):
            ip_index, network_index = keys.ip_indexes(e.ip)
            sealed[e.id] = {
                "ip_ciphertext": keys.encrypt(e.ip, purpose="ip"),
                "ip_index": ip_index,
                "network_index": network_index,
            }
        elif isinstance(e, AccountEvent):
            numbers = [
                {
                    "phone_ciphertext": keys.encrypt(number, purpose="phone"),
                    "phone_index": keys.phone_index(number),
                    "phone_country": country,
                }
                for number, country in e.numbers
            ]
            none = {"phone_ciphertext": None, "phone_index": None, "phone_country": None}
            sealed[e.id] = {**(numbers[0] if numbers else none), NUMBERS: numbers or [none]}
    return sealed


def _primary(sealed: dict[str, Any]) -> dict[str, Any]:
    """The account row's columns: its first number only (the identities hold them all)."""
    return {k: v for k, v in sealed.items() if k != NUMBERS}


def ingest(
    session: Session,
    *,
    keys: KeyRing,
    batch: EventBatch,
    body_digest: str,
    actor: str,
    sealed: Sealed | None = None,
) -> IngestResult:
    """Store the batch's new events; events already seen (by id) are acknowledged, not stored."""
    if sealed is None:
        sealed = seal(batch, keys=keys)
    batch_id = f"b_{secrets.token_hex(8)}"
    now = now_of(session)
    first_index: dict[str, int] = {}
    for index, item in enumerate(batch.events):
        first_index.setdefault(item.id, index)
    candidates = [batch.events[i] for i in first_index.values()]
    # The bulk of a batch is prepared before the first statement, which on SQLite takes the
    # write lock: other writers wait only for the statements themselves.
    dialect = session.get_bind().dialect
    claims = [
        {"event_id": e.id, "event_type": e.type, "batch_id": batch_id, "received_at": now}
        for e in candidates
    ]
    events_table = cast(Table, IngestedEvent.__table__)
    prepared_claims = prepare_rows(dialect, events_table, claims)
    connections = [e for e in candidates if isinstance(e, ConnectionSeen)]
    connection_rows = [
        {
            "user_id": e.user_id,
            "port": e.port,
            "seen_at": e.occurred_at,
            "user_agent": e.user_agent,
            **sealed[e.id],
        }
        for e in connections
    ]
    connections_table = cast(Table, Connection.__table__)
    prepared_connections = prepare_rows(dialect, connections_table, connection_rows)

    fresh_ids = _claim_event_ids(session, claims, prepared_claims)
    fresh = [e for e in candidates if e.id in fresh_ids]
    run_prepared(session, prepared_connections, [e.id in fresh_ids for e in connections])
    _apply(session, sealed=sealed, events=fresh)

    items = [
        # Built from values this function chose: nothing to validate.
        ItemResult.model_construct(
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
        platform_events.BatchIngested(
            batch_digest=body_digest,
            stored_by_type=dict(Counter(e.type for e in fresh)),
            stored=stored,
            duplicates=len(items) - stored,
        ),
        actor=actor,
        target=f"batch:{batch_id}",
    )
    return IngestResult(
        batch_id=batch_id, stored=stored, duplicates=len(items) - stored, items=items
    )


def _apply(session: Session, *, sealed: Sealed, events: Sequence[PlatformEvent]) -> None:
    """Apply the new events other than connections (stored in bulk by ``ingest``)."""
    accounts = [e for e in events if isinstance(e, AccountEvent)]
    entities = [e for e in events if isinstance(e, EntityEvent | EntityDeleted)]
    posts = [e for e in events if isinstance(e, PostEvent | PostDeleted)]
    if accounts:
        _apply_accounts(session, sealed=sealed, events=accounts)
    if entities:
        _apply_entities(session, events=entities)
    if posts:
        _apply_posts(session, events=posts)
    if entities or posts:
        # Public items reach search only through moderation's scan.
        enqueue_scan(
            session,
            entity_ids=sorted({e.entity_id for e in entities}),
            post_ids=sorted({e.post_id for e in posts}),
        )


def _latest_per_key(events: Sequence[Any], key: str) -> list[Any]:
    latest: dict[str, Any] = {}
    for item in sorted(events, key=lambda e: e.occurred_at):
        latest[getattr(item, key)] = item
    return list(latest.values())


def _earliest_per_key(events: Sequence[Any], key: str) -> dict[str, datetime]:
    earliest: dict[str, datetime] = {}
    for item in events:
        known = earliest.get(getattr(item, key))
        if known is None or item.occurred_at < known:
            earliest[getattr(item, key)] = item.occurred_at
    return earliest


def _upsert(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    *,
    key: str,
    first_seen: str,
    insert_only: tuple[str, ...] = (),
) -> None:
    """Insert or update many rows in one statement; a row older than the stored state loses.

    Rows must hold one row per key (see ``_latest_per_key``). The ``first_seen`` column
    (when the account registered, the entity or post was published) keeps the earliest
    time ever seen, so a late, older event still corrects it. Columns in ``insert_only``
    are set on insert only.
    """
    if not rows:
        return
    table = model.__table__
    statement = dialect_insert(session, table)
    excluded = statement.excluded
    newer = table.c.state_at <= excluded.state_at
    earlier = excluded[first_seen] < table.c[first_seen]
    changes: dict[str, Any] = {
        column: case((newer, excluded[column]), else_=table.c[column])
        for column in rows[0]
        if column not in (key, first_seen, *insert_only)
    }
    changes[first_seen] = case((earlier, excluded[first_seen]), else_=table.c[first_seen])
    upsert = statement.on_conflict_do_update(
        index_elements=[key], set_=changes, where=or_(newer, earlier)
    )
    execute_many(session, table, rows, upsert)


def _apply_accounts(session: Session, *, sealed: Sealed, events: Sequence[AccountEvent]) -> None:
    # One identity row per number held: rows of the same time are held together, each
    # until the user's next, later row.
    identities = [
        {
            "user_id": e.user_id,
            "valid_from": e.occurred_at,
            "username": e.username,
            "event_id": e.id,
            **number,
        }
        for e in events
        for number in sealed[e.id][NUMBERS]
    ]
    execute_many(session, AccountIdentity.__table__, identities)
    registered = _earliest_per_key(events, "user_id")
    _upsert(
        session,
        Account,
        [
            {
                "user_id": e.user_id,
                "username": e.username,
                "synthetic": e.synthetic,
                # An account seen first through an update counts as registered then.
                "registered_at": registered[e.user_id],
                "state_at": e.occurred_at,
                **_primary(sealed[e.id]),
            }
            for e in _latest_per_key(events, "user_id")
        ],
        key="user_id",
        first_seen="registered_at",
    )


def _apply_deletions(
    session: Session,
    model: Any,
    key: str,
    events: Sequence[Any],
    *,
    first_seen: dict[str, datetime],
    placeholders: dict[str, Any],
    clear: tuple[str, ...] = (),
) -> None:
    """Mark rows deleted, keeping a tombstone for rows not seen yet: a deletion that
    arrives before the publication it follows must still win over it."""
    _upsert(
        session,
        model,
        [
            {
                key: getattr(e, key),
                **placeholders,
                **dict.fromkeys(clear),
                "published_at": first_seen.get(getattr(e, key), e.occurred_at),
                "state_at": e.occurred_at,
                "deleted_at": e.occurred_at,
            }
            for e in events
        ],
        key=key,
        first_seen="published_at",
        insert_only=tuple(placeholders),
    )


def _apply_entities(session: Session, *, events: Sequence[EntityEvent | EntityDeleted]) -> None:
    latest = _latest_per_key(events, "entity_id")
    published = _earliest_per_key([e for e in events if isinstance(e, EntityEvent)], "entity_id")
    _apply_deletions(
        session,
        Entity,
        "entity_id",
        [e for e in latest if isinstance(e, EntityDeleted)],
        first_seen=published,
        # A tombstone: what it was is unknown until (if ever) its publication arrives.
        placeholders={"kind": "unknown", "title": ""},
    )
    _upsert(
        session,
        Entity,
        [
            {
                "entity_id": e.entity_id,
                "kind": e.kind,
                "username": e.username,
                "title": e.title,
                "description": e.description,
                "owner_user_id": e.owner_user_id,
                "member_count": e.member_count,
                "published_at": published[e.entity_id],
                "state_at": e.occurred_at,
                "deleted_at": None,
            }
            for e in latest
            if isinstance(e, EntityEvent)
        ],
        key="entity_id",
        first_seen="published_at",
    )


def _stored_state(session: Session, post_ids: list[str]) -> dict[str, datetime]:
    state: dict[str, datetime] = {}
    for start in range(0, len(post_ids), 900):  # SQLite's bound-parameter limit
        chunk = post_ids[start : start + 900]
        for post_id, state_at in session.execute(
            select(Post.post_id, Post.state_at).where(Post.post_id.in_(chunk))
        ):
            state[post_id] = state_at
    return state


def _apply_posts(session: Session, *, events: Sequence[PostEvent | PostDeleted]) -> None:
    latest = _latest_per_key(events, "post_id")
    published = _earliest_per_key([e for e in events if isinstance(e, PostEvent)], "post_id")
    # The platform took these down: keep the fact, drop the text (minimisation).
    _apply_deletions(
        session,
        Post,
        "post_id",
        [e for e in latest if isinstance(e, PostDeleted)],
        first_seen=published,
        placeholders={"entity_id": ""},
        clear=("text",),
    )
    upserts = [e for e in latest if isinstance(e, PostEvent)]
    # An event carries the post's full state, media included: read which events will win
    # before the upsert overwrites the state they are compared with.
    stored_state = _stored_state(session, [e.post_id for e in upserts]) if upserts else {}
    _upsert(
        session,
        Post,
        [
            {
                "post_id": e.post_id,
                "entity_id": e.entity_id,
                "author_user_id": e.author_user_id,
                "text": e.text,
                "language": e.language,
                "published_at": published[e.post_id],
                "state_at": e.occurred_at,
                "deleted_at": None,
                "edited_at": e.occurred_at if e.type == "post.edited" else None,
            }
            for e in upserts
        ],
        key="post_id",
        first_seen="published_at",
    )
    winners = [
        e
        for e in upserts
        if e.post_id not in stored_state or stored_state[e.post_id] <= e.occurred_at
    ]
    replaced = [e.post_id for e in winners if e.post_id in stored_state]
    for start in range(0, len(replaced), 900):
        chunk = replaced[start : start + 900]
        session.execute(delete(PostMedia).where(PostMedia.post_id.in_(chunk)))
    media = [(e.post_id, position, m) for e in winners for position, m in enumerate(e.media)]
    if media:
        _store_media(session, media)


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


def hash_pending_media(
    session: Session,
    *,
    media_ids: Sequence[int],
    actor: str,
    keys: KeyRing,
    review_days: int,
    digests: Mapping[int, ImageDigests] | None = None,
    previews: Mapping[int, bytes | None] | None = None,
) -> int:
    """Hash inline images (SHA-256, MD5, PDQ); keep them for review only for a short while
    (see ``moderation/media.py``), encrypted. ``digests`` and blurred ``previews`` computed
    beforehand (with no transaction open, by ``hash_pending_images`` and
    ``review_previews``) are used as they are."""
    from rempart.platform.hooks import UNKNOWN_PREVIEW, keep_for_review
    from rempart.platform.media import hash_image

    now = now_of(session)
    done = 0
    rescan: set[str] = set()
    for media_id in media_ids:
        pending = session.get(PendingImage, media_id)
        media = session.get(PostMedia, media_id)
        if pending is None or media is None:
            continue  # already hashed by an earlier, interrupted run
        found = (digests or {}).get(media_id) or hash_image(pending.content)
        media.sha256, media.md5 = found.sha256, found.md5
        media.pdq, media.pdq_quality = found.pdq, found.pdq_quality
        media.status = "hashed" if found.pdq is not None else "failed"
        if review_days and found.pdq is not None:
            keep_for_review(
                session,
                keys=keys,
                media_id=media_id,
                content=pending.content,
                days=review_days,
                now=now,
                preview=(previews or {}).get(media_id, UNKNOWN_PREVIEW),
            )
        session.delete(pending)
        rescan.add(media.post_id)
        done += 1
    if done:
        audit.record(session, platform_events.MediaHashed(hashed=done), actor=actor)
        # Their posts were scanned without these hashes: scan them again with them.
        enqueue_scan(session, entity_ids=[], post_ids=sorted(rescan))
    return done


def hash_pending_images(session: Session, *, media_ids: Sequence[int]) -> dict[int, ImageDigests]:
    """The digests ``hash_pending_media`` will store, computed from a read: decoding and
    PDQ take tens of milliseconds an image, too long to hold the write lock for."""
    from rempart.platform.media import hash_image

    rows = session.execute(
        select(PendingImage.media_id, PendingImage.content).where(
            PendingImage.media_id.in_(media_ids)
        )
    )
    return {media_id: hash_image(content) for media_id, content in rows}


def review_previews(session: Session, *, media_ids: Sequence[int]) -> dict[int, bytes | None]:
    """The blurred previews ``hash_pending_media`` keeps for review, made from a read:
    decoding, resizing and blurring an image is too long to hold the write lock for."""
    from rempart.platform.hooks import blurred_preview

    rows = session.execute(
        select(PendingImage.media_id, PendingImage.content).where(
            PendingImage.media_id.in_(media_ids)
        )
    )
    return {media_id: blurred_preview(content) for media_id, content in rows}


# -- retention ------------------------------------------------------------------------


def purge_connections(
    session: Session, *, retention_days: int, actor: str, now: datetime | None = None
) -> int:
    """Delete connection records older than retention, except those a legal hold covers."""
    now = now or now_of(session)
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
        platform_events.RetentionPurged(
            cutoff=cutoff.isoformat(),
            purged=purged,
            held_records_remain=kept,
            retention_days=retention_days,
        ),
        actor=actor,
    )
    return purged

"""One sync of a Synapse homeserver into Rempart, incremental and resumable.

Users (with their msisdn threepids), their connections (whois), public rooms and their
messages go through ``platform.service.ingest``, the service behind ``POST
/v1/ingest/events``; event reports become notices through ``reports.intake.submit``. Each
batch is stored in one transaction together with the cursor that says how far the sync
got, so a sync that stops half-way resumes where it stopped and stores nothing twice.

Private rooms are never read: a room's messages are fetched only while the room is public
(published, joinable by anyone or readable by anyone, not end-to-end encrypted), and of
those only the events a newcomer could read are indexed (see ``_newcomer_reads``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import utcnow
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform import service as platform
from rempart.platform.adapters.matrix import event_reports
from rempart.platform.adapters.matrix.client import JSON, Homeserver, HomeserverError, matrix_time
from rempart.platform.adapters.matrix.progress import (
    ACTOR,
    ADAPTER,
    SyncSummary,
    cursors,
    save,
)
from rempart.platform.models import PlatformAction
from rempart.platform.schemas import EventBatch, PlatformEvent, normalise_phone

log = logging.getLogger("rempart.matrix")

PAGE = 100
BATCH = 500
_EVENT = TypeAdapter(PlatformEvent)
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


# -- helpers ----------------------------------------------------------------------------


def _fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _event_id(kind: str, *parts: object) -> str:
    return f"mx.{kind}.{_fingerprint(parts)[:40]}"


def _username(name: str | None) -> str | None:
    """The part of ``@name:server`` or ``#name:server`` that Rempart's usernames allow."""
    if not name:
        return None
    local = name[1:].split(":", 1)[0]
    ok = 0 < len(local) <= 64 and set(local) <= _USERNAME_CHARS
    return local if ok else None


def _unless_gone(call: Callable[[], JSON]) -> JSON | None:
    """A record that vanished between the listing and this call (a user or room deleted
    meanwhile) is skipped; any other error stops the round, to resume from the cursors."""
    try:
        return call()
    except HomeserverError as exc:
        if exc.status == 404:
            return None
        raise


def _events(raw: Iterable[dict[str, Any]], summary: SyncSummary) -> list[Any]:
    """Validated ingest events; what Rempart refuses (a phone number that is not one…) is
    counted and left out rather than failing the batch."""
    events = []
    for record in raw:
        try:
            events.append(_EVENT.validate_python(record))
        except ValidationError as exc:
            summary.refused += 1
            log.warning("refused a %s record: %s", record.get("type"), exc.errors()[0]["type"])
            numbers = [
                n for n in [record.get("phone_number"), *record.get("phone_numbers", [])] if n
            ]
            valid = [n for n in numbers if _is_number(n)]
            if valid != numbers:
                # The account still counts (its connections may be asked for); only the
                # number that is not one is left out.
                fixed = {**record, "phone_number": None, "phone_numbers": []}
                if valid:
                    fixed.update(phone_number=valid[0], phone_numbers=valid[1:])
                events.extend(_events([fixed], summary))
    return events


def _is_number(value: str) -> bool:
    try:
        normalise_phone(value)
    except ValueError:  # PydanticCustomError
        return False
    return True


def _store(
    rt: Runtime, records: list[dict[str, Any]], summary: SyncSummary, marks: dict[str, str | None]
) -> int:
    """Ingest the records and move the cursors in one transaction; the number stored."""
    events = _events(records, summary)
    batches = [EventBatch(events=events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    # Encrypted before the transaction, as the ingest API does: on SQLite the write lock
    # is then held only for the statements.
    sealed = [platform.seal(batch, keys=rt.keys) for batch in batches]
    with transaction(rt.engine) as session:
        stored = 0
        for batch, seals in zip(batches, sealed, strict=True):
            body = json.dumps([e.id for e in batch.events]).encode()
            result = platform.ingest(
                session,
                keys=rt.keys,
                batch=batch,
                body_digest=platform.body_digest(body),
                actor=ACTOR,
                sealed=seals,
            )
            stored += result.stored
        save(session, marks)
    return stored


def _pages(fetch: Callable[[int], JSON], key: str) -> Iterator[list[JSON]]:
    """Offset-paginated admin lists."""
    start = 0
    while True:
        page = fetch(start)
        rows: list[JSON] = page.get(key, [])
        if not rows:
            return
        yield rows
        start += len(rows)
        if page.get("next_token") is None and page.get("next_batch") is None:
            return


# -- users and connections --------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _held_numbers(detail: JSON, now_ms: int) -> dict[str, int]:
    """The account's phone numbers (E.164 form) and since when each is bound to it: the
    later of Synapse's ``added_at`` and ``validated_at``; now when it gives neither."""
    numbers: dict[str, int] = {}
    for threepid in detail.get("threepids", []):
        if threepid.get("medium") != "msisdn" or not threepid.get("address"):
            continue
        since = max(int(threepid.get("added_at") or 0), int(threepid.get("validated_at") or 0))
        # Synapse keeps msisdns as digits without the plus.
        numbers[f"+{str(threepid['address']).lstrip('+')}"] = since or now_ms
    return numbers


def _blind(rt: Runtime, number: str) -> str:
    """A number as the cursor may hold it: keyed, never in clear (nor a plain hash, which
    the small space of phone numbers would give away)."""
    return rt.keys.phone_index(number).hex()


def _account_records(
    rt: Runtime,
    user_id: str,
    detail: JSON,
    created_ms: int,
    previous: JSON | None,
    seen_ms: int,
) -> tuple[list[dict[str, Any]], JSON | None]:
    """The account events that date each phone number from when the homeserver says it
    was bound, and the cursor to keep; (no events, None) when nothing changed.

    A first sync rebuilds the past from the threepids' own dates, so that nothing is held
    earlier than it was. Synapse forgets a removed number: a removal is dated at the last
    sync that still saw the number, the latest moment Rempart knows it was held.
    """
    username = _username(user_id)
    current = _held_numbers(detail, seen_ms)
    blinds = {number: _blind(rt, number) for number in current}
    state = {blinds[n]: since for n, since in current.items()}
    if previous is not None and previous.get("phones") == state:
        if not state or previous.get("seen", 0) >= seen_ms:
            return [], None
        # Unchanged; only the moment the numbers were last seen moves on.
        return [], {**previous, "seen": seen_ms}
    timeline: dict[int, list[str]] = {}
    if previous is None:
        for moment in {created_ms, *(max(s, created_ms) for s in current.values())}:
            timeline[moment] = [n for n, s in current.items() if max(s, created_ms) <= moment]
        first = created_ms
    else:
        before: dict[str, int] = previous.get("phones") or {}
        last_seen = int(previous.get("seen") or seen_ms)
        kept = [n for n in current if before.get(blinds[n]) == current[n]]
        added = {n: max(s, last_seen + 1) for n, s in current.items() if n not in kept}
        if set(before) - {blinds[n] for n in kept}:
            timeline[last_seen] = list(kept)
        for moment in set(added.values()):
            timeline[moment] = kept + [n for n, s in added.items() if s <= moment]
        first = -1
    records = []
    for moment in sorted(timeline):
        numbers = sorted(timeline[moment])
        at = matrix_time(moment)
        records.append(
            {
                "type": "account.registered" if moment == first else "account.updated",
                "id": _event_id("account", user_id, moment, [blinds[n] for n in numbers]),
                "occurred_at": at,
                "user_id": user_id,
                "username": username,
                "phone_number": numbers[0] if numbers else None,
                "phone_numbers": numbers[1:],
            }
        )
    return records, {"phones": state, "seen": seen_ms}


def _previous(value: str | None) -> JSON | None:
    """The cursor of an account; one from before numbers were dated counts as none, so
    that the account's numbers are dated again from the homeserver's own record."""
    if value is None or not value.startswith("{"):
        return None
    parsed: JSON = json.loads(value)
    return parsed


def _sync_users(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> list[str]:
    """Accounts whose state changed since the last sync; the users to ask whois about."""
    with transaction(rt.engine, readonly=True) as session:
        known = cursors(session, "user:")
        last_seen = cursors(session, "seen:")
    active: list[str] = []
    start: str | None = None
    while True:
        page = hs.users(start=start, limit=PAGE)
        records: list[dict[str, Any]] = []
        marks: dict[str, str | None] = {}
        for listed in page.get("users", []):
            user_id = str(listed["name"])
            seen = listed.get("last_seen_ts")
            if not listed.get("deactivated") and (
                seen is None or last_seen.get(f"seen:{user_id}") != str(seen)
            ):
                active.append(user_id)
            detail = _unless_gone(partial(hs.user, user_id))
            if detail is None:
                continue
            # After the answer: every number it lists was held at this moment.
            now_ms = _ms(utcnow())
            created = detail.get("creation_ts") or listed["creation_ts"]
            created_ms = _ms(matrix_time(created))
            events, cursor = _account_records(
                rt, user_id, detail, created_ms, _previous(known.get(f"user:{user_id}")), now_ms
            )
            records.extend(events)
            if cursor is not None:
                marks[f"user:{user_id}"] = json.dumps(cursor, sort_keys=True)
        summary.accounts += _store(rt, records, summary, marks)
        start = page.get("next_token")
        if start is None:
            return active


def _sync_connections(rt: Runtime, hs: Homeserver, users: list[str], summary: SyncSummary) -> None:
    """What whois knows of each user's addresses. Synapse writes client IPs in batches every
    few seconds, so the newest requests show up in the next sync, not this one."""
    for start in range(0, len(users), PAGE):
        records: list[dict[str, Any]] = []
        marks: dict[str, str | None] = {}
        for user_id in users[start : start + PAGE]:
            newest = 0
            whois = _unless_gone(partial(hs.whois, user_id)) or {}
            for device in whois.get("devices", {}).values():
                for session in device.get("sessions", []):
                    for connection in session.get("connections", []):
                        seen = int(connection.get("last_seen") or 0)
                        if not seen or not connection.get("ip"):
                            continue
                        newest = max(newest, seen)
                        agent, ip = connection.get("user_agent"), connection["ip"]
                        records.append(
                            {
                                "type": "connection.seen",
                                "id": _event_id(
                                    "connection", user_id, connection["ip"], agent, seen
                                ),
                                "occurred_at": matrix_time(seen),
                                "user_id": user_id,
                                "ip": ip,
                                "user_agent": agent[:512] if agent else None,
                            }
                        )
            if newest:
                marks[f"seen:{user_id}"] = str(newest)
        summary.connections += _store(rt, records, summary, marks)


# -- rooms and messages -----------------------------------------------------------------


def is_public(room: JSON) -> bool:
    """Anyone may read it without keys: joinable by anyone, or readable without joining."""
    open_to_all = (
        room.get("join_rules") == "public" or room.get("history_visibility") == "world_readable"
    )
    return open_to_all and not room.get("encryption")


def _delisted_by_rempart(session: Session) -> set[str]:
    """Rooms out of the directory because a decision of Rempart's took them out: they are
    still public and still watched (unlike a room its owner unlisted)."""
    rows = session.execute(
        select(PlatformAction.target_ref, PlatformAction.action)
        .where(
            PlatformAction.adapter == ADAPTER,
            PlatformAction.state == "done",
            PlatformAction.action.in_(["directory_remove", "directory_restore"]),
        )
        .order_by(PlatformAction.done_at, PlatformAction.id)
    ).all()
    latest = {str(ref): str(action) for ref, action in rows}
    return {ref for ref, action in latest.items() if action == "directory_remove"}


def _sync_rooms(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> dict[str, JSON]:
    """Public rooms as entities; the rooms whose messages to read, as listed."""
    with transaction(rt.engine, readonly=True) as session:
        known = cursors(session, "room:")
        delisted = _delisted_by_rempart(session)
    listed: dict[str, JSON] = {}
    for rows in _pages(lambda start: hs.rooms(start=start, limit=PAGE), "rooms"):
        listed.update((str(r["room_id"]), r) for r in rows)
    records: list[dict[str, Any]] = []
    marks: dict[str, str | None] = {}
    public: dict[str, JSON] = {}
    now = utcnow()
    for room_id, room in listed.items():
        was_known = f"room:{room_id}" in known
        # Published in the directory now, or taken out of it by Rempart itself (still
        # public, still watched). A room its owner unlisted is no longer published.
        if not (is_public(room) and (room.get("public") or (was_known and room_id in delisted))):
            continue
        if room.get("room_type") == "m.space":
            continue  # a space lists rooms; it has no messages of its own
        detail = _unless_gone(partial(hs.room, room_id))
        if detail is None:
            continue
        public[room_id] = room
        title = detail.get("name") or detail.get("canonical_alias") or room_id
        state = {
            "title": str(title)[:256],
            "username": _username(detail.get("canonical_alias")),
            "description": (detail.get("topic") or None) and str(detail["topic"])[:4096],
            "owner_user_id": detail.get("creator"),
            "member_count": detail.get("joined_members"),
        }
        fingerprint = _fingerprint(state)
        if known.get(f"room:{room_id}") == fingerprint:
            continue
        records.append(
            {
                "type": "entity.updated" if was_known else "entity.published",
                "id": _event_id("room", room_id, fingerprint, now),
                "occurred_at": now,
                "entity_id": room_id,
                "kind": "group",
                **state,
            }
        )
        marks[f"room:{room_id}"] = fingerprint
    # Rooms that left the public realm (made invite-only, encrypted, unlisted by their
    # owner, or deleted): out of search, and their messages are no longer read.
    for key in known:
        room_id = key.removeprefix("room:")
        if room_id in public:
            continue
        records.append(
            {
                "type": "entity.deleted",
                "id": _event_id("room-gone", room_id, now),
                "occurred_at": now,
                "entity_id": room_id,
            }
        )
        marks[key] = None
        marks[f"messages:{room_id}"] = None
        marks[f"visibility:{room_id}"] = None
        summary.rooms_gone += 1
    summary.rooms += _store(rt, records, summary, marks)
    return public


# What decides who may read an event: the room's state just before it.
_RULES = {"m.room.join_rules": "join_rule", "m.room.history_visibility": "history_visibility"}


def _newcomer_reads(visibility: dict[str, Any]) -> bool:
    """Whether someone who is not a member, arriving now, may read an event sent under this
    state: one sent to the world, or shared with whoever cared to join a room anyone could
    join. Not one sent while the room was private (a later ``shared`` history shows it to
    new members, but its authors wrote to a closed room), nor under ``joined`` or
    ``invited`` history, which hide it from whoever was not there, nor one encrypted."""
    if visibility.get("encrypted"):
        return False
    history = visibility.get("history_visibility", "shared")  # Matrix's default
    return history == "world_readable" or (
        history == "shared" and visibility.get("join_rule") == "public"
    )


def _follow_state(visibility: dict[str, Any], event: JSON) -> None:
    kind = str(event.get("type"))
    if event.get("state_key") != "":
        return
    content = event.get("content") or {}
    if kind == "m.room.encryption" and content:
        visibility["encrypted"] = True
    elif kind in _RULES:
        field = "join_rule" if kind == "m.room.join_rules" else "history_visibility"
        value = content.get(field)
        if isinstance(value, str):
            visibility[_RULES[kind]] = value


def _post_records(rt: Runtime, hs: Homeserver, room_id: str, event: JSON) -> list[dict[str, Any]]:
    kind, content = event.get("type"), event.get("content") or {}
    at = matrix_time(event.get("origin_server_ts") or 0)
    if kind == "m.room.redaction":
        redacts = event.get("redacts") or content.get("redacts")
        if not redacts:
            return []
        return [
            {
                "type": "post.deleted",
                "id": _event_id("redaction", event["event_id"]),
                "occurred_at": at,
                "post_id": redacts,
            }
        ]
    if kind != "m.room.message":
        return []
    if not content:  # redacted already: nothing left to index
        return [
            {
                "type": "post.deleted",
                "id": _event_id("redacted", event["event_id"]),
                "occurred_at": at,
                "post_id": event["event_id"],
            }
        ]
    relation = content.get("m.relates_to") or {}
    if relation.get("rel_type") == "m.replace" and relation.get("event_id"):
        content = content.get("m.new_content") or content
        post_id, kind_out = str(relation["event_id"]), "post.edited"
    else:
        post_id, kind_out = str(event["event_id"]), "post.published"
    record: dict[str, Any] = {
        "type": kind_out,
        "id": _event_id("message", event["event_id"]),
        "occurred_at": at,
        "post_id": post_id,
        "entity_id": room_id,
        "author_user_id": event.get("sender"),
        "text": str(content.get("body") or "")[:16384] or None,
    }
    url = content.get("url")
    if content.get("msgtype") == "m.image" and isinstance(url, str) and url.startswith("mxc://"):
        try:
            image = hs.media(url, max_bytes=rt.settings.matrix_media_max_bytes)
        except HomeserverError as exc:
            log.warning("image of %s not fetched: %s", event["event_id"], exc)
            image = None
        if image:
            # Hashed by the worker like any inline image, then dropped.
            record["media"] = [{"image_base64": base64.b64encode(image).decode()}]
        record["text"] = None  # the body of an image is its file name
    return [record]


def _sync_messages(
    rt: Runtime, hs: Homeserver, rooms: dict[str, JSON], summary: SyncSummary
) -> None:
    """Each public room's timeline, from its first event on, following its join rule and
    history visibility through it: only what a newcomer may read is indexed."""
    with transaction(rt.engine, readonly=True) as session:
        tokens = cursors(session, "messages:")
        states = cursors(session, "visibility:")
    for room_id, room in rooms.items():
        token = tokens.get(f"messages:{room_id}")
        saved = states.get(f"visibility:{room_id}")
        visibility: dict[str, Any]
        if saved is not None:
            visibility = json.loads(saved)
        elif token is None:
            visibility = {}  # before the room's creation event: nothing readable yet
        else:
            # Read before the state was followed: the room as it is now stands in for it.
            visibility = {
                "join_rule": room.get("join_rules"),
                "history_visibility": room.get("history_visibility"),
                "encrypted": bool(room.get("encryption")),
            }
        while True:
            page = _unless_gone(partial(hs.messages, room_id, start=token, limit=PAGE)) or {}
            chunk: list[JSON] = page.get("chunk", [])
            end = page.get("end")
            if not chunk or end is None:
                break
            records = []
            for event in chunk:
                if event.get("type") == "m.room.redaction" or _newcomer_reads(visibility):
                    records.extend(_post_records(rt, hs, room_id, event))
                _follow_state(visibility, event)
            marks: dict[str, str | None] = {
                f"messages:{room_id}": str(end),
                f"visibility:{room_id}": json.dumps(visibility, sort_keys=True),
            }
            summary.posts += _store(rt, records, summary, marks)
            token = str(end)


# -- the whole round --------------------------------------------------------------------


def sync(rt: Runtime, hs: Homeserver) -> SyncSummary:
    """One round: users, connections, rooms, messages, then reports (whose targets the
    messages step has just brought in)."""
    summary = SyncSummary()
    active = _sync_users(rt, hs, summary)
    _sync_connections(rt, hs, active, summary)
    rooms = _sync_rooms(rt, hs, summary)
    _sync_messages(rt, hs, rooms, summary)
    event_reports.sync_reports(rt, hs, summary)
    return summary

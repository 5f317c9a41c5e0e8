"""One sync of a Synapse homeserver into Rempart, incremental and resumable.

Users (with their msisdn threepids), their connections (whois), public rooms and their
messages go through ``platform.service.ingest``, the service behind ``POST
/v1/ingest/events``; event reports become notices through ``reports.intake.submit``. Each
batch is stored in one transaction together with the cursor that says how far the sync
got, so a sync that stops half-way resumes where it stopped and stores nothing twice.

Private rooms are never read: a room's messages are fetched only while the room is public
(joinable by anyone, not end-to-end encrypted).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rempart.core.clock import utcnow
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform import service as platform
from rempart.platform.adapters.matrix import event_reports
from rempart.platform.adapters.matrix.client import JSON, Homeserver, HomeserverError, matrix_time
from rempart.platform.adapters.matrix.progress import ACTOR, SyncSummary, cursors, save
from rempart.platform.schemas import EventBatch, PlatformEvent

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
            if record.get("phone_number"):
                # The account still counts (its connections may be asked for); only the
                # number that is not one is left out.
                events.extend(_events([{**record, "phone_number": None}], summary))
    return events


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
            phones = sorted(
                t["address"] for t in detail.get("threepids", []) if t.get("medium") == "msisdn"
            )
            state = {"phone": phones[0] if phones else None, "username": _username(user_id)}
            fingerprint = _fingerprint(state)
            if known.get(f"user:{user_id}") == fingerprint:
                continue
            registered = f"user:{user_id}" not in known
            at = (
                matrix_time(detail.get("creation_ts") or listed["creation_ts"])
                if registered
                else utcnow()
            )
            records.append(
                {
                    "type": "account.registered" if registered else "account.updated",
                    "id": _event_id("account", user_id, fingerprint, at),
                    "occurred_at": at,
                    "user_id": user_id,
                    "username": state["username"],
                    # Synapse keeps msisdns as digits without the plus.
                    "phone_number": f"+{state['phone']}" if state["phone"] else None,
                }
            )
            marks[f"user:{user_id}"] = fingerprint
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
    """Anyone may join it and read it without keys: its content is public."""
    return room.get("join_rules") == "public" and not room.get("encryption")


def _sync_rooms(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> list[str]:
    """Public rooms as entities; the rooms whose messages to read."""
    with transaction(rt.engine, readonly=True) as session:
        known = cursors(session, "room:")
    listed: dict[str, JSON] = {}
    for rows in _pages(lambda start: hs.rooms(start=start, limit=PAGE), "rooms"):
        listed.update((str(r["room_id"]), r) for r in rows)
    records: list[dict[str, Any]] = []
    marks: dict[str, str | None] = {}
    public: list[str] = []
    now = utcnow()
    for room_id, room in listed.items():
        was_known = f"room:{room_id}" in known
        # In the directory now, or an entity already (a room Rempart took out of the
        # directory is still public and still watched).
        if not (is_public(room) and (room.get("public") or was_known)):
            continue
        if room.get("room_type") == "m.space":
            continue  # a space lists rooms; it has no messages of its own
        detail = _unless_gone(partial(hs.room, room_id))
        if detail is None:
            continue
        public.append(room_id)
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
    # Rooms that left the public realm (made invite-only, encrypted, or deleted): out of
    # search, and their messages are no longer read.
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
        summary.rooms_gone += 1
    summary.rooms += _store(rt, records, summary, marks)
    return public


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


def _sync_messages(rt: Runtime, hs: Homeserver, rooms: list[str], summary: SyncSummary) -> None:
    with transaction(rt.engine, readonly=True) as session:
        tokens = cursors(session, "messages:")
    for room_id in rooms:
        token = tokens.get(f"messages:{room_id}")
        while True:
            page = _unless_gone(partial(hs.messages, room_id, start=token, limit=PAGE)) or {}
            chunk: list[JSON] = page.get("chunk", [])
            end = page.get("end")
            if not chunk or end is None:
                break
            records = [r for event in chunk for r in _post_records(rt, hs, room_id, event)]
            summary.posts += _store(rt, records, summary, {f"messages:{room_id}": str(end)})
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

"""Public Matrix rooms and the messages of theirs that a newcomer may read."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix.client import JSON, Homeserver, HomeserverError, matrix_time
from rempart.adapters.matrix.progress import (
    ADAPTER,
    SyncSummary,
    cursors,
)
from rempart.adapters.matrix.records import (
    PAGE,
    event_id,
    fingerprint,
    pages,
    store,
    unless_gone,
    username_of,
)
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform.models import PlatformAction

log = logging.getLogger("rempart.matrix")


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


def sync_rooms(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> dict[str, JSON]:
    """Public rooms as entities; the rooms whose messages to read, as listed."""
    with transaction(rt.engine, readonly=True) as session:
        known = cursors(session, prefix="room:")
        delisted = _delisted_by_rempart(session)
    listed: dict[str, JSON] = {}
    for rows in pages(lambda start: hs.rooms(start=start, limit=PAGE), "rooms"):
        listed.update((str(r["room_id"]), r) for r in rows)
    records: list[dict[str, Any]] = []
    marks: dict[str, str | None] = {}
    public: dict[str, JSON] = {}
    now = rt.now()
    for room_id, room in listed.items():
        was_known = f"room:{room_id}" in known
        # Published in the directory now, or taken out of it by Rempart itself (still
        # public, still watched). A room its owner unlisted is no longer published.
        if not (is_public(room) and (room.get("public") or (was_known and room_id in delisted))):
            continue
        if room.get("room_type") == "m.space":
            continue  # a space lists rooms; it has no messages of its own
        detail = unless_gone(partial(hs.room, room_id))
        if detail is None:
            continue
        public[room_id] = room
        title = detail.get("name") or detail.get("canonical_alias") or room_id
        state = {
            "title": str(title)[:256],
            "username": username_of(detail.get("canonical_alias")),
            "description": (detail.get("topic") or None) and str(detail["topic"])[:4096],
            "owner_user_id": detail.get("creator"),
            "member_count": detail.get("joined_members"),
        }
        digest = fingerprint(state)
        if known.get(f"room:{room_id}") == digest:
            continue
        records.append(
            {
                "type": "entity.updated" if was_known else "entity.published",
                "id": event_id("room", room_id, digest, now),
                "occurred_at": now,
                "entity_id": room_id,
                "kind": "group",
                **state,
            }
        )
        marks[f"room:{room_id}"] = digest
    # Rooms that left the public realm (made invite-only, encrypted, unlisted by their
    # owner, or deleted): out of search, and their messages are no longer read.
    for key in known:
        room_id = key.removeprefix("room:")
        if room_id in public:
            continue
        records.append(
            {
                "type": "entity.deleted",
                "id": event_id("room-gone", room_id, now),
                "occurred_at": now,
                "entity_id": room_id,
            }
        )
        marks[key] = None
        marks[f"messages:{room_id}"] = None
        marks[f"visibility:{room_id}"] = None
        summary.rooms_gone += 1
    summary.rooms += store(rt, records, summary, marks)
    return public


# Set while a room read by an older Rempart is read again from its start.
RECHECK = "recheck"
# What decides who may read an event: the room's state just before it (state event type:
# the key of its content, kept under the same name).
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
        value = content.get(_RULES[kind])
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
                "id": event_id("redaction", event["event_id"]),
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
                "id": event_id("redacted", event["event_id"]),
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
        "id": event_id("message", event["event_id"]),
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


def _unreadable(event: JSON, *, now: datetime) -> list[dict[str, Any]]:
    """A message a newcomer may not read, out of Rempart if an older version took it in."""
    content = event.get("content") or {}
    relation = content.get("m.relates_to") or {}
    if event.get("type") != "m.room.message" or relation.get("rel_type") == "m.replace":
        return []
    return [
        {
            "type": "post.deleted",
            "id": event_id("unreadable", event["event_id"]),
            # Now: later than whatever the older version stored.
            "occurred_at": now,
            "post_id": event["event_id"],
        }
    ]


def sync_messages(
    rt: Runtime, hs: Homeserver, rooms: dict[str, JSON], summary: SyncSummary
) -> None:
    """Each public room's timeline, from its first event on, following its join rule and
    history visibility through it: only what a newcomer may read is indexed."""
    with transaction(rt.engine, readonly=True) as session:
        tokens = cursors(session, prefix="messages:")
        states = cursors(session, prefix="visibility:")
    for room_id in rooms:
        token = tokens.get(f"messages:{room_id}")
        saved = states.get(f"visibility:{room_id}")
        visibility: dict[str, Any]
        if saved is not None:
            visibility = json.loads(saved)
        elif token is None:
            visibility = {}  # before the room's creation event: nothing readable yet
        else:
            # Read by an older Rempart, which indexed the room's whole history: read it
            # again from the start, and take out what a newcomer may not read.
            token, visibility = None, {RECHECK: True}
        while True:
            page = unless_gone(partial(hs.messages, room_id, start=token, limit=PAGE)) or {}
            chunk: list[JSON] = page.get("chunk", [])
            end = page.get("end")
            if not chunk or end is None:
                if visibility.pop(RECHECK, None):
                    done = json.dumps(visibility, sort_keys=True)
                    store(rt, [], summary, {f"visibility:{room_id}": done})
                break
            records = []
            for event in chunk:
                if event.get("type") == "m.room.redaction" or _newcomer_reads(visibility):
                    records.extend(_post_records(rt, hs, room_id, event))
                elif visibility.get(RECHECK):
                    records.extend(_unreadable(event, now=rt.now()))
                _follow_state(visibility, event)
            marks: dict[str, str | None] = {
                f"messages:{room_id}": str(end),
                f"visibility:{room_id}": json.dumps(visibility, sort_keys=True),
            }
            summary.posts += store(rt, records, summary, marks)
            token = str(end)

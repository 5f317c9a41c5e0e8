"""Matrix accounts, their phone numbers with the dates they were held, and their
connections (whois)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix.client import JSON, Homeserver, matrix_time
from rempart.adapters.matrix.progress import (
    ACTOR,
    ADAPTER,
    SyncSummary,
    cursors,
)
from rempart.adapters.matrix.records import (
    PAGE,
    event_id,
    store,
    unless_gone,
    username_of,
)
from rempart.audit import service as audit
from rempart.core.clock import as_utc
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform import events as platform_events
from rempart.platform.models import Account, AccountIdentity, IngestedEvent

# The ids of the account records the sync writes, then as now: ``mx.account.<digest>``.
EVENT_PREFIX = "mx.account"

log = logging.getLogger("rempart.matrix")


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
    sightings: dict[str, int] | None = None,
) -> tuple[list[dict[str, Any]], JSON | None]:
    """The account events that date each phone number from when the homeserver says it
    was bound, and the cursor to keep; (no events, None) when nothing changed.

    A first sync rebuilds the past from the threepids' own dates, so that nothing is held
    earlier than it was. Synapse forgets a removed number: a removal is dated at the last
    sync that still saw the number, the latest moment Rempart knows it was held. The
    ``sightings`` of an older version (numbers it recorded, with when its sync saw each)
    that the homeserver no longer lists are held at that moment only.
    """
    username = username_of(user_id)
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
        # (number, from, until): the listed numbers from their binding on; a number only
        # an older version saw, at the moment it saw it.
        held: list[tuple[str, int, int | None]] = [
            (n, max(s, created_ms), None) for n, s in current.items()
        ]
        for number, seen_at in (sightings or {}).items():
            if number not in current:
                moment = max(seen_at, created_ms)
                held.append((number, moment, moment + 1))
                blinds[number] = _blind(rt, number)
        moments = {created_ms, *(h[1] for h in held)}
        moments |= {h[2] for h in held if h[2] is not None}
        for moment in moments:
            timeline[moment] = [
                n for n, start, end in held if start <= moment and (end is None or moment < end)
            ]
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
                "id": event_id("account", user_id, moment, [blinds[n] for n in numbers]),
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


def _legacy(value: str | None) -> bool:
    """A cursor written by a version that dated a first sync's numbers at registration and
    later changes at sync time (a fingerprint, not the JSON of numbers and their dates)."""
    return value is not None and not value.startswith("{")


def _legacy_sightings(rt: Runtime, user_id: str) -> dict[str, int]:
    """The numbers the older version recorded for the account, each with the latest moment
    its sync really saw it: when it ingested the record (not the date it gave it)."""
    with transaction(rt.engine, readonly=True) as session:
        rows = session.execute(
            select(AccountIdentity.phone_ciphertext, IngestedEvent.received_at)
            .join(IngestedEvent, IngestedEvent.event_id == AccountIdentity.event_id)
            .where(
                AccountIdentity.user_id == user_id,
                AccountIdentity.event_id.startswith(f"{EVENT_PREFIX}."),
                AccountIdentity.phone_ciphertext.is_not(None),
            )
        ).all()
    seen: dict[str, int] = {}
    for ciphertext, received_at in rows:
        assert ciphertext is not None  # selected so
        number = rt.keys.decrypt(ciphertext, purpose="phone")
        seen[number] = max(seen.get(number, 0), _ms(as_utc(received_at)))
    return seen


def _replace_legacy_rows(redated: dict[str, list[dict[str, Any]]], session: Session) -> None:
    """Take out the identity rows an older version wrote for these accounts, in the
    transaction that stores the rows dating them again, and audit the correction: those
    rows held a number from registration, before it was bound."""
    for user_id, records in redated.items():
        fresh = [str(r["id"]) for r in records]
        old = list(
            session.execute(
                select(AccountIdentity).where(
                    AccountIdentity.user_id == user_id,
                    AccountIdentity.event_id.startswith(f"{EVENT_PREFIX}."),
                    AccountIdentity.event_id.not_in(fresh),
                )
            ).scalars()
        )
        for row in old:
            session.delete(row)
        account = session.execute(
            select(Account).where(Account.user_id == user_id)
        ).scalar_one_or_none()
        if account is not None:
            # The re-dated records, all later than the registration, set its numbers now.
            account.state_at = account.registered_at
        audit.record(
            session,
            platform_events.IdentitiesRedated(
                adapter=ADAPTER,
                replaced_rows=len(old),
                replaced_from=sorted({as_utc(r.valid_from).isoformat() for r in old}),
                dated_from=sorted({r["occurred_at"].isoformat() for r in records}),
                source="homeserver threepids (added_at, validated_at)",
            ),
            actor=ACTOR,
            target=f"account:{user_id}",
        )
    session.flush()


def sync_users(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> list[str]:
    """Accounts whose state changed since the last sync; the users to ask whois about."""
    with transaction(rt.engine, readonly=True) as session:
        known = cursors(session, prefix="user:")
        last_seen = cursors(session, prefix="seen:")
    active: list[str] = []
    start: str | None = None
    while True:
        page = hs.users(start=start, limit=PAGE)
        records: list[dict[str, Any]] = []
        marks: dict[str, str | None] = {}
        redated: dict[str, list[dict[str, Any]]] = {}
        for listed in page.get("users", []):
            user_id = str(listed["name"])
            seen = listed.get("last_seen_ts")
            if not listed.get("deactivated") and (
                seen is None or last_seen.get(f"seen:{user_id}") != str(seen)
            ):
                active.append(user_id)
            detail = unless_gone(partial(hs.user, user_id))
            if detail is None:
                continue
            # After the answer: every number it lists was held at this moment.
            now_ms = _ms(rt.now())
            created = detail.get("creation_ts") or listed["creation_ts"]
            created_ms = _ms(matrix_time(created))
            mark = known.get(f"user:{user_id}")
            # Synced by an older version: dated again, what it saw and no longer listed kept
            # at the moment it saw it.
            sightings = _legacy_sightings(rt, user_id) if _legacy(mark) else None
            events, cursor = _account_records(
                rt, user_id, detail, created_ms, _previous(mark), now_ms, sightings
            )
            records.extend(events)
            if sightings is not None:
                redated[user_id] = events
            if cursor is not None:
                marks[f"user:{user_id}"] = json.dumps(cursor, sort_keys=True)
        summary.accounts += store(
            rt, records, summary, marks, before=partial(_replace_legacy_rows, redated)
        )
        start = page.get("next_token")
        if start is None:
            return active


def sync_connections(rt: Runtime, hs: Homeserver, users: list[str], summary: SyncSummary) -> None:
    """What whois knows of each user's addresses. Synapse writes client IPs in batches every
    few seconds, so the newest requests show up in the next sync, not this one."""
    for start in range(0, len(users), PAGE):
        records: list[dict[str, Any]] = []
        marks: dict[str, str | None] = {}
        for user_id in users[start : start + PAGE]:
            newest = 0
            whois = unless_gone(partial(hs.whois, user_id)) or {}
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
                                "id": event_id(
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
        summary.connections += store(rt, records, summary, marks)

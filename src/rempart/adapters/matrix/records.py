"""What the Matrix sync's steps share: record ids, validation, and storing a batch with
the cursors that say how far the sync got, in one transaction."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from rempart.adapters.matrix.client import JSON, HomeserverError
from rempart.adapters.matrix.progress import (
    ACTOR,
    SyncSummary,
    save,
)
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform import service as platform
from rempart.platform.schemas import EventBatch, PlatformEvent, normalise_phone

log = logging.getLogger("rempart.matrix")

PAGE = 100
BATCH = 500
_EVENT = TypeAdapter(PlatformEvent)
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def event_id(kind: str, *parts: object) -> str:
    return f"mx.{kind}.{fingerprint(parts)[:40]}"


def username_of(name: str | None) -> str | None:
    """The part of ``@name:server`` or ``#name:server`` that Rempart's usernames allow."""
    if not name:
        return None
    local = name[1:].split(":", 1)[0]
    ok = 0 < len(local) <= 64 and set(local) <= _USERNAME_CHARS
    return local if ok else None


def unless_gone(call: Callable[[], JSON]) -> JSON | None:
    """A record that vanished between the listing and this call (a user or room deleted
    meanwhile) is skipped; any other error stops the round, to resume from the cursors."""
    try:
        return call()
    except HomeserverError as exc:
        if exc.status == 404:
            return None
        raise


def events_of(raw: Iterable[dict[str, Any]], summary: SyncSummary) -> list[Any]:
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
            valid = [n for n in numbers if is_number(n)]
            if valid != numbers:
                # The account still counts (its connections may be asked for); only the
                # number that is not one is left out.
                fixed = {**record, "phone_number": None, "phone_numbers": []}
                if valid:
                    fixed.update(phone_number=valid[0], phone_numbers=valid[1:])
                events.extend(events_of([fixed], summary))
    return events


def is_number(value: str) -> bool:
    try:
        normalise_phone(value)
    except ValueError:  # PydanticCustomError
        return False
    return True


def store(
    rt: Runtime,
    records: list[dict[str, Any]],
    summary: SyncSummary,
    marks: dict[str, str | None],
    *,
    before: Callable[[Session], None] | None = None,
) -> int:
    """Ingest the records and move the cursors in one transaction; the number stored.
    ``before`` runs first in that transaction (to take out what the records replace)."""
    events = events_of(records, summary)
    batches = [EventBatch(events=events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    # Encrypted before the transaction, as the ingest API does: on SQLite the write lock
    # is then held only for the statements.
    sealed = [platform.seal(batch, keys=rt.keys) for batch in batches]
    with transaction(rt.engine) as session:
        if before is not None:
            before(session)
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
        save(session, values=marks)
    return stored


def pages(fetch: Callable[[int], JSON], key: str) -> Iterator[list[JSON]]:
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

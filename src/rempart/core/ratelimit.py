"""Fixed-window rate limits kept in the database, so that every web process counts the same
requests. Keys are keyed hashes (a network prefix's blind index, a user's), never clear
addresses."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rempart.core.crypto import KeyRing
from rempart.core.db import dialect_insert
from rempart.core.errors import RateLimited
from rempart.core.models import RateWindow


def network_key(keys: KeyRing, host: str, *, purpose: str) -> bytes:
    """A limit's key for a client: its network (/24, /48), so that one attacker's
    neighbouring addresses share a budget; the bare host when it is not an IP address (a
    test client)."""
    try:
        base = keys.network_index(str(ipaddress.ip_address(host))).hex()
    except ValueError:
        base = host
    return keys.blind_index(base, purpose=purpose)


def hit(session: Session, *, key: bytes, limit: int, window_seconds: int, now: datetime) -> None:
    """Count one request under ``key``; refuse it (429) past ``limit`` in the window."""
    refused = hit_many(session, keys=[key], limit=limit, window_seconds=window_seconds, now=now)
    if refused[0] is not None:
        raise refused[0]


def hit_many(
    session: Session,
    *,
    keys: list[bytes | None],
    limit: int,
    window_seconds: int,
    now: datetime,
) -> list[RateLimited | None]:
    """Count one request per entry of ``keys`` (None: not limited) in one statement; for
    each, the refusal :func:`hit` would have raised had they come one after the other, or
    None. Every request counts, refused or not, as a batch's requests would one by one."""
    stamp = int(now.timestamp())
    window = stamp - stamp % window_seconds  # the window's start, in Unix seconds
    wanted = Counter(key for key in keys if key is not None)
    if not wanted:
        return [None] * len(keys)
    # Sorted: two batches upserting the same keys lock them in the same order (PostgreSQL).
    rows = [{"key": key, "window": window, "count": n} for key, n in sorted(wanted.items())]
    # Core statements on the session's connection: the ORM's bulk-insert path cost more
    # than the upsert itself on a single notice.
    connection = session.connection()
    if len(rows) == 1:
        # A single request: a statement built once, with its parameters apart.
        counted = connection.execute(_single_upsert(connection.dialect.name), rows[0])
    else:
        insert = dialect_insert(session, _WINDOWS)
        counted = connection.execute(_upsert(insert.values(rows), insert.excluded["count"]))
    # What each key counted before this batch; its requests then count one by one.
    seen = {bytes(key): int(total) - wanted[bytes(key)] for key, total in counted}
    answers: list[RateLimited | None] = []
    for key in keys:
        if key is None:
            answers.append(None)
            continue
        seen[key] += 1
        answers.append(
            RateLimited(
                "Too many requests from this network; try again later.",
                retry_after=window + window_seconds - stamp,
            )
            if seen[key] > limit
            else None
        )
    return answers


_WINDOWS = RateWindow.__table__


def _upsert(insert: Any, added: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[_WINDOWS.c.key, _WINDOWS.c.window],
        set_={"count": _WINDOWS.c.count + added},
    ).returning(_WINDOWS.c.key, _WINDOWS.c.count)


@lru_cache(maxsize=4)
def _single_upsert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    insert = module.insert(_WINDOWS)
    values = insert.values(
        key=bindparam("key"), window=bindparam("window"), count=bindparam("count")
    )
    return _upsert(values, insert.excluded["count"])


def purge(session: Session, *, before: datetime) -> None:
    session.execute(delete(RateWindow).where(RateWindow.window < int(before.timestamp())))

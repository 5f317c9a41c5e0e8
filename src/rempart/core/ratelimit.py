"""Fixed-window rate limits kept in the database, so that every web process counts the same
requests. Keys are keyed hashes (a network prefix's blind index, a user's), never clear
addresses."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from sqlalchemy import delete
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
    stamp = int(now.timestamp())
    window = stamp - stamp % window_seconds  # the window's start, in Unix seconds
    upsert = (
        dialect_insert(session, RateWindow)
        .values(key=key, window=window, count=1)
        .on_conflict_do_update(
            index_elements=[RateWindow.key, RateWindow.window],
            set_={"count": RateWindow.count + 1},
        )
        .returning(RateWindow.count)
    )
    count = int(session.execute(upsert).scalar_one())
    if count > limit:
        raise RateLimited(
            "Too many requests from this network; try again later.",
            retry_after=window + window_seconds - stamp,
        )


def purge(session: Session, *, before: datetime) -> None:
    session.execute(delete(RateWindow).where(RateWindow.window < int(before.timestamp())))

"""The clock sits behind a protocol so tests and the demo seed can move time.

The runtime holds one (``Runtime.clock``) and the worker's tasks take the time from it. By
default it is ``ProcessClock``, which reads the module's ``clock``: code that still calls
``utcnow()`` and tests that move the module's clock keep seeing the same time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


clock: Clock = SystemClock()


def utcnow() -> datetime:
    return clock.now()


class ProcessClock:
    """The process's clock as ``utcnow()`` reads it, whatever replaced it."""

    def now(self) -> datetime:
        return utcnow()


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

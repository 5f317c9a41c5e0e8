"""The clock sits behind a protocol so tests and the demo seed can move time.

The runtime holds one (``Runtime.clock``): routes, commands and the worker's tasks take the
time from it (``rt.now()``) and pass ``now=`` to services. A service that has only a
session reads the clock of the runtime that opened it (``now_of(session)``): the
runtime's engine carries its clock as an execution option, which ``core.db.transaction``
puts in ``session.info``. A session made outside any runtime reads the system clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

# Types only: `rempart serve` reads the clock's module before it may import SQLAlchemy.
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

# The execution option of a runtime's engine, and the key in ``session.info``, that hold
# the runtime's clock.
CLOCK_OPTION = "rempart_clock"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM = SystemClock()


def now_of(session: Session) -> datetime:
    """The time by the clock of the runtime that opened ``session``."""
    held: Clock | None = session.info.get(CLOCK_OPTION)
    return (held or SYSTEM).now()


def now_on(engine: Engine) -> datetime:
    """The time by the clock of the runtime whose engine this is."""
    held: Clock | None = engine.get_execution_options().get(CLOCK_OPTION)
    return (held or SYSTEM).now()


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

"""FastAPI dependencies shared by every router: settings, keys and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from fastapi import Request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from rempart.core import ports
from rempart.core.clock import CLOCK_OPTION, Clock, SystemClock
from rempart.core.crypto import KeyRing
from rempart.core.db import read_connection, transaction
from rempart.core.notify import Notifier, build_notifier
from rempart.core.ports import Port
from rempart.core.settings import Settings

T = TypeVar("T")

# One clocked view of each engine per clock: runtimes that share a clock (the app, the
# worker and the CLI of one test, say) share the view, so an event listener added to one
# runtime's engine hears the statements of them all.
_CLOCKED_VIEWS: WeakKeyDictionary[Clock, dict[Engine, Engine]] = WeakKeyDictionary()


def _clocked(engine: Engine, clock: Clock) -> Engine:
    views = _CLOCKED_VIEWS.setdefault(clock, {})
    if engine not in views:
        views[engine] = engine.execution_options(**{CLOCK_OPTION: clock})
    return views[engine]


@dataclass(frozen=True)
class Runtime:
    """What the app holds for its lifetime; built once by ``create_app``."""

    settings: Settings
    engine: Engine
    keys: KeyRing
    clock: Clock = field(default_factory=SystemClock)
    # The ports built so far, by setting (``port``).
    _ports: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every transaction on the runtime's engine reads the runtime's clock (``now_of``).
        if self.engine.get_execution_options().get(CLOCK_OPTION) is not self.clock:
            object.__setattr__(self, "engine", _clocked(self.engine, self.clock))
        # A setting naming an implementation nobody registered stops the process at start.
        ports.check(self.settings)

    def port(self, port: Port[T]) -> T:
        """The implementation of ``port`` its setting chooses, built once per runtime."""
        if port.setting not in self._ports:
            self._ports[port.setting] = ports.build(port, self)
        value: T = self._ports[port.setting]
        return value

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def head_file(self) -> Path:
        return self.settings.audit_head_file

    @cached_property
    def notifier(self) -> Notifier:
        """Where messages to users and authorities go (``REMPART_NOTIFIER``)."""
        return build_notifier(self.settings, self.keys)

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[Session]:
        # Routes commit before they answer: an acknowledged request is durable.
        with transaction(self.engine, readonly=readonly) as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A read-only transaction without an ORM session, for a statement or two."""
        with read_connection(self.engine) as connection:
            yield connection


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value

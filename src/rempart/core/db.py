"""Engine and sessions. SQLite runs in WAL mode with write transactions taken up front."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from rempart.core.clock import CLOCK_OPTION, as_utc

log = logging.getLogger("rempart.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite dialect stores for a datetime, for raw bulk inserts.

    ``isoformat`` is several times faster than ``strftime`` and gives the same text.
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    # Users write postgresql://; the driver we ship is psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _prepare_sqlite_file(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# How long a statement waits for another transaction's lock before the request is
# answered 503 database_busy (SQLite's busy timeout, PostgreSQL's lock_timeout).
DEFAULT_LOCK_TIMEOUT_SECONDS = 30.0


def make_engine(url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Engine:
    url = normalise_url(url)
    wait_ms = max(1, int(lock_timeout * 1000))
    if not is_sqlite(url):
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            # Without it a request queues for ever behind a row another process holds.
            connect_args={"options": f"-c lock_timeout={wait_ms}"},
        )
    _prepare_sqlite_file(url)
    gate = _WriteGate(lock_timeout)
    waiting = _WaitingWriters(url)
    engine = create_engine(
        url,
        # Requests waiting for the write gate each hold a connection: with the default
        # five, the others were opened and closed again per request (PRAGMAs included).
        pool_size=16,
        max_overflow=32,
        connect_args={
            "timeout": lock_timeout,
            "check_same_thread": False,
            "factory": _gated_connection_class(gate),
        },
    )

    # The lock file's descriptor goes with the engine (tests make hundreds).
    weakref.finalize(engine, waiting.close)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so that it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once with
        # SQLITE_BUSY when another writer got in between; taking the write lock at
        # BEGIN makes concurrent writers (serve and worker) queue on busy_timeout.
        if connection.get_execution_options().get("readonly"):
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        dbapi_connection = connection.connection.dbapi_connection
        asked = time.monotonic()
        gate.enter(dbapi_connection)
        entered = time.monotonic()
        try:
            if _background_yield_seconds:
                waiting.make_way(_background_yield_seconds)
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                with waiting.announce():
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(dbapi_connection)
            raise
        gate.locked(dbapi_connection)
        _note_wait(entered - asked, time.monotonic() - entered)

    return engine


class _WriteGate:
    """Writers of one process queue on a lock before they ask for SQLite's write lock.

    SQLite's busy handler makes a waiting writer sleep and poll (up to 100 ms a time), so
    the threads of one web process that all wanted to write woke late and in no order:
    most of a notice's latency was that sleep. A lock wakes the next writer as soon as the
    current one has committed; only writers of other processes still meet the busy handler.

    The gate also measures how long this process held SQLite's write lock (from BEGIN
    IMMEDIATE to the end of COMMIT or ROLLBACK): ``write_holds`` reports the longest, and a
    hold longer than ``SLOW_WRITE_SECONDS`` is logged with the code that held it.
    """

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout
        self._holder: object | None = None
        self._since = 0.0

    def enter(self, connection: object) -> None:
        # Past the timeout the writer goes on to SQLite's own wait, which answers busy.
        if self._lock.acquire(timeout=self._timeout):
            self._holder = connection

    def locked(self, connection: object) -> None:
        """BEGIN IMMEDIATE returned: this connection now holds SQLite's write lock."""
        if self._holder is connection:
            self._since = time.monotonic()

    def leave(self, connection: object) -> None:
        if self._holder is connection:
            held = time.monotonic() - self._since if self._since else 0.0
            self._since = 0.0
            self._holder = None
            self._lock.release()
            if held:
                _note_hold(held)


class _WaitingWriters:
    """Lets the worker give way to API writes on SQLite.

    SQLite's busy handler makes a writer of another process sleep and poll, up to 100 ms
    between tries; a worker that commits and begins its next write transaction at once
    (filing notices, a rescan's jobs) finds the lock free every time, and a request waited
    through several of its transactions. Writers that wait for the lock hold a shared
    ``flock`` on ``<database>-writers`` meanwhile; a background writer (the worker) first
    waits, up to a bound, until nobody holds it.
    """

    def __init__(self, url: str) -> None:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        self._fd: int | None = None
        if path and not path.startswith(":memory:"):
            try:
                self._fd = os.open(
                    f"{path.split('?', 1)[0]}-writers", os.O_RDWR | os.O_CREAT, 0o600
                )
            except OSError:
                self._fd = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextmanager
    def announce(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def make_way(self, bound: float) -> None:
        if self._fd is None:
            return
        deadline = time.monotonic() + bound
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.005)
                continue
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            return


# Set in the worker (`background_writes`): its write transactions give way to others'.
_background_yield_seconds = 0.0


def background_writes(yield_seconds: float) -> None:
    """This process's SQLite write transactions wait, up to ``yield_seconds`` each, while
    another process's writer waits for the lock (0: they do not)."""
    global _background_yield_seconds
    _background_yield_seconds = yield_seconds


def _note_wait(gate: float, lock: float) -> None:
    if gate + lock > SLOW_WRITE_SECONDS and log.hasHandlers():
        log.warning(
            "slow write lock: waited %.0f ms for SQLite's write lock "
            "(%.0f ms behind this process's writers, %.0f ms behind other processes)",
            (gate + lock) * 1000,
            gate * 1000,
            lock * 1000,
        )


# A write transaction that holds SQLite's write lock longer than this is logged: every
# other writer (API requests, the worker) waited behind it.
SLOW_WRITE_SECONDS = 0.25
_holds_lock = threading.Lock()
_holds = {"count": 0, "longest": 0.0}


def _note_hold(held: float) -> None:
    with _holds_lock:
        _holds["count"] += 1
        _holds["longest"] = max(_holds["longest"], held)
    # Only where logging is set up (the worker, `rempart serve`): a command's output stays
    # its own.
    if held > SLOW_WRITE_SECONDS and log.hasHandlers():
        # The transaction's code is still on the stack: COMMIT runs as its block ends.
        where: list[str] = []
        frame = sys._getframe(1)
        while frame is not None and len(where) < 4:
            name = frame.f_code.co_filename
            if "/rempart/" in name and not name.endswith(("core/db.py", "contextlib.py")):
                where.append(f"{name.rsplit('/rempart/', 1)[-1]}:{frame.f_lineno}")
            frame = frame.f_back  # type: ignore[assignment]
        log.warning(
            "slow write transaction: SQLite's write lock held %.0f ms (%s)",
            held * 1000,
            " < ".join(where) or "?",
        )


def log_slow_writes() -> None:
    """Log slow write transactions to stderr (web processes, whose logging uvicorn sets up
    for its own loggers only)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)


def write_holds(*, reset: bool = False) -> tuple[int, float]:
    """How many SQLite write transactions this process committed or rolled back, and the
    longest time one of them held the write lock (seconds); ``reset`` starts a new count."""
    with _holds_lock:
        figures = (int(_holds["count"]), float(_holds["longest"]))
        if reset:
            _holds["count"], _holds["longest"] = 0, 0.0
    return figures


def _gated_connection_class(gate: _WriteGate) -> type[sqlite3.Connection]:
    # The gate opens after COMMIT or ROLLBACK has reached the file, which no SQLAlchemy
    # event marks (its "commit" event comes before).
    class GatedConnection(sqlite3.Connection):
        def commit(self) -> None:
            try:
                super().commit()
            finally:
                gate.leave(self)

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                gate.leave(self)

        def close(self) -> None:
            gate.leave(self)
            super().close()

    return GatedConnection


def get_engine(url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Engine:
    """One engine (and pool) per database for the life of the process."""
    return _cached_engine(normalise_url(url), lock_timeout)


@lru_cache(maxsize=64)
def _cached_engine(url: str, lock_timeout: float) -> Engine:
    return make_engine(url, lock_timeout=lock_timeout)


# SQLite's busy errors, and PostgreSQL's lock_not_available (lock_timeout),
# deadlock_detected and serialization_failure: another process holds what this one needs.
_BUSY_SQLSTATES = {"55P03", "40P01", "40001"}


def is_busy_error(exc: BaseException) -> bool:
    """True when a database error means "busy, try again", not a bug."""
    origin = getattr(exc, "orig", None)
    if getattr(origin, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    message = str(origin if origin is not None else exc).lower()
    return "database is locked" in message or "database is busy" in message


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction on a bare connection, for the one statement every
    authenticated request runs first: an ORM session cost more than the read itself."""
    with readonly_view(engine).connect() as connection, connection.begin():
        yield connection


@contextmanager
def transaction(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """The unit of work of a request, task or command: commit on success, roll back on error."""
    bind = readonly_view(engine) if readonly else engine
    with Session(bind=bind, expire_on_commit=False) as session, session.begin():
        # The runtime's clock, for services that have only the session (``now_of``).
        held = engine.get_execution_options().get(CLOCK_OPTION)
        if held is not None:
            session.info[CLOCK_OPTION] = held
        yield session


def readonly_view(engine: Engine) -> Engine:
    """The engine with ``readonly`` set, built once per engine (a request opens one or two
    read transactions, and building the view cost more than beginning one)."""
    view: Engine | None = engine.__dict__.get("_rempart_readonly_view")
    if view is None:
        view = engine.execution_options(readonly=True)
        engine.__dict__["_rempart_readonly_view"] = view
    return view


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer, "sqlite")


# -- bulk writes ---------------------------------------------------------------------


def dialect_insert(session: Session, model: Any) -> Any:
    """An INSERT with the dialect's ON CONFLICT clauses (SQLite and PostgreSQL share them)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model)


def is_sqlite_session(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


@dataclass(frozen=True)
class PreparedRows:
    """A statement and its rows' parameters, converted ahead of time.

    On SQLite, SQLAlchemy's per-row parameter processing costs more than the insert itself,
    so the compiled SQL goes straight to the driver's executemany, with datetimes turned
    into the text SQLAlchemy writes. Preparing before the transaction's first statement
    keeps that work out of SQLite's write lock.
    """

    statement: Any
    sql: str | None  # None: not SQLite, the rows go through SQLAlchemy as they are
    params: list[Any]


def prepare_rows(
    dialect: Dialect, table: Any, rows: list[dict[str, Any]], statement: Any = None
) -> PreparedRows:
    """Prepare ``statement`` (by default a plain INSERT into ``table``) for ``rows``."""
    if not rows or dialect.name != "sqlite":
        return PreparedRows(table.insert() if statement is None else statement, None, rows)
    if statement is None:
        # A plain insert compiles the same for the same columns: once (a single notice
        # spent more on compiling its INSERT than on the rest of its write).
        statement, sql, names = _plain_insert(dialect, table, tuple(rows[0]))
    else:
        compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
        sql, names = str(compiled), list(compiled.positiontup or ())
    dates = [i for i, name in enumerate(names) if isinstance(table.c[name].type, UTCDateTime)]
    get = itemgetter(*names)
    params: list[Any] = []
    texts: dict[Any, str | None] = {}  # a batch shares many times (received_at, for one)
    for row in rows:
        values = list(get(row)) if len(names) > 1 else [get(row)]
        for i in dates:
            moment = values[i]
            text = texts.get(moment)
            if text is None:
                text = texts[moment] = sqlite_datetime(moment)
            values[i] = text
        params.append(tuple(values))
    return PreparedRows(statement, sql, params)


@lru_cache(maxsize=256)
def _plain_insert(
    dialect: Dialect, table: Any, columns: tuple[str, ...]
) -> tuple[Any, str, list[str]]:
    statement = table.insert()
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    return statement, str(compiled), list(compiled.positiontup or ())


def run_prepared(
    session: Session, prepared: PreparedRows, keep: Sequence[bool] | None = None
) -> None:
    """Execute the prepared rows, or only those whose ``keep`` flag is set."""
    params = prepared.params if keep is None else list(compress(prepared.params, keep))
    if not params:
        return
    if prepared.sql is None:
        session.execute(prepared.statement, params)
    else:
        session.connection().exec_driver_sql(prepared.sql, params)


def execute_many(
    session: Session, table: Any, rows: list[dict[str, Any]], statement: Any = None
) -> None:
    """Run ``statement`` (by default a plain INSERT into ``table``) once per row."""
    run_prepared(session, prepare_rows(session.get_bind().dialect, table, rows, statement))


# -- SQLite readers ------------------------------------------------------------------


class SqliteReaders:
    """Connections of one SQLite engine for statements that only read, each on its own.

    A single SELECT reads one snapshot of the file without a transaction, so a reader needs
    nothing from the pool but a connection. Taken from the pool once and detached from it
    (the engine's PRAGMAs applied, the pool's count of connections unchanged), each then
    waits in a list between uses: the pool's checkout and return (a queue with its lock,
    events, a rollback) cost a selective search at 1 M posts a tenth of what raw FTS5
    takes to answer it (bench/search.py).
    """

    # Idle readers kept at most; more searches at once open more, closed when given back.
    IDLE = 8

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._idle: list[sqlite3.Connection] = []

    def take(self) -> sqlite3.Connection:
        try:
            return self._idle.pop()  # atomic: no lock needed between threads
        except IndexError:
            engine = self._engine()
            assert engine is not None  # its readers are reached through it
            pooled = engine.raw_connection()
            connection = pooled.driver_connection
            assert isinstance(connection, sqlite3.Connection)
            pooled.detach()
            return connection

    def give(self, connection: sqlite3.Connection) -> None:
        """Back to the idle list after use; a reader left in a transaction is closed."""
        if connection.in_transaction or len(self._idle) >= self.IDLE:
            connection.close()
        else:
            self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


_readers: weakref.WeakKeyDictionary[Engine, SqliteReaders] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def sqlite_readers(engine: Engine) -> SqliteReaders:
    """The readers of a SQLite engine, closed with its pool (``Engine.dispose``)."""
    found = _readers.get(engine)
    if found is not None:
        return found
    with _readers_lock:
        found = _readers.get(engine)
        if found is None:
            found = _readers[engine] = SqliteReaders(engine)
            event.listen(engine, "engine_disposed", lambda _: found.close())
        return found

"""Alembic, configured in code so that an installed package can migrate itself.

A fresh SQLite database (the demo's, a first install's) is created from a snapshot of the
schema the migrations produce (``migrations/sqlite-schema.sql``) and stamped at their head:
on a loaded machine, importing Alembic and running every migration was seconds before
`make demo` could serve. ``tests/core/test_schema_snapshot.py`` checks that the snapshot
equals the migrations' result; ``rempart db snapshot`` rewrites it. A snapshot that does
not list exactly the migration files present (a new migration, a merge) is not used.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

# SQLAlchemy and Alembic are imported where used: `rempart serve --demo-setup` creates a
# fresh database from the snapshot with neither.

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
SNAPSHOT = MIGRATIONS / "sqlite-schema.sql"
_HEADER = "-- rempart schema snapshot: "


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    from rempart.core.db import normalise_url

    config = Config()
    config.set_main_option("script_location", "rempart:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def create_or_upgrade(database_url: str) -> str:
    """Bring the database to the latest schema: a fresh SQLite file from the snapshot,
    anything else through the migrations. Says which."""
    if _create_from_snapshot(database_url):
        return "snapshot"
    upgrade(database_url)
    return "migrations"


def migration_files() -> list[str]:
    return sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py"))


def _snapshot() -> tuple[dict[str, object], str] | None:
    try:
        text = SNAPSHOT.read_text()
    except FileNotFoundError:
        return None
    first, _, script = text.partition("\n")
    if not first.startswith(_HEADER):
        return None
    header: dict[str, object] = json.loads(first.removeprefix(_HEADER))
    if header.get("migrations") != migration_files():
        return None
    return header, script


def _create_from_snapshot(database_url: str) -> bool:
    path = _sqlite_path(database_url)
    snapshot = _snapshot() if path else None
    if path is None or snapshot is None:
        return False
    _header, script = snapshot
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: the transaction is the one begun below.
    with closing(sqlite3.connect(path, timeout=30.0, isolation_level=None)) as raw:
        # BEGIN IMMEDIATE: two processes creating the same fresh file serialise here, and
        # the second finds tables and leaves the file to the migrations.
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("BEGIN IMMEDIATE")
        try:
            if raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raw.execute("ROLLBACK")
                return False
            for statement in _statements(script):
                raw.execute(statement)
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    return True


def _statements(script: str) -> list[str]:
    """The snapshot's statements: one per line block, ended by a line ``;``."""
    return [s.strip() for s in script.split("\n;\n") if s.strip()]


def _objects(database_url: str) -> list[tuple[str, str, str, str | None]]:
    """Type, name, table and SQL of each object of a SQLite database, in creation order,
    then an INSERT for each row the migrations wrote (the Alembic revision, the audit
    log's empty tail), as ("row", table, "", statement). FTS5's shadow tables, which the
    FTS5 table creates and fills itself, are left out."""
    path = _sqlite_path(database_url)
    if path is None:
        raise ValueError("a SQLite file's URL is needed")
    with closing(sqlite3.connect(path)) as raw:
        objects = raw.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        ).fetchall()
        virtual = [n for k, n, _t, s in objects if k == "table" and "VIRTUAL TABLE" in (s or "")]
        kept = [
            o
            for o in objects
            if o[3] and not o[1].startswith(("sqlite_", *(f"{v}_" for v in virtual)))
        ]
        rows: list[tuple[str, str, str, str | None]] = []
        for kind, table, _t, _s in kept:
            if kind != "table" or table in virtual:
                continue
            columns = [c[1] for c in raw.execute(f'PRAGMA table_info("{table}")')]
            quoted = " || ',' || ".join(f'quote("{c}")' for c in columns)
            for (values,) in raw.execute(f'SELECT {quoted} FROM "{table}"'):  # noqa: S608
                names = ", ".join(columns)
                insert = f"INSERT INTO {table} ({names}) VALUES ({values})"  # noqa: S608
                rows.append(("row", table, "", insert))
    return [*kept, *rows]


def _sqlite_path(database_url: str) -> str | None:
    """The file of a ``sqlite:///`` URL; None for anything else (PostgreSQL, in memory)."""
    scheme, _, path = database_url.partition(":///")
    if scheme not in ("sqlite", "sqlite+pysqlite") or not path or path.startswith(":memory:"):
        return None
    return path.split("?", 1)[0]


def schema_of(database_url: str) -> set[tuple[str, str, str, object]]:
    """What a SQLite database's schema is made of, for comparing two (the snapshot's test):
    the migrations rebuild tables in an order that varies from run to run (the columns'
    and constraints' clauses of a table, the indexes), so each table's clauses are a set."""
    found: set[tuple[str, str, str, object]] = set()
    for kind, name, table, sql in _objects(database_url):
        text = (sql or "").strip()
        if kind == "table" and text.startswith("CREATE TABLE") and text.endswith((")", "ROWID")):
            head, _, rest = text.partition("(")
            body, _, tail = rest.rpartition(")")
            clauses = frozenset(c.strip() for c in body.split(", \n"))
            found.add((kind, name, table, (head.strip(), clauses, tail.strip())))
        else:
            found.add((kind, name, table, text))
    return found


def write_snapshot(database_url: str, path: Path = SNAPSHOT) -> None:
    """Write the snapshot of a database the migrations have just brought to their head."""
    statements = [(sql or "").strip() for _k, _n, _t, sql in _objects(database_url)]
    header = {"migrations": migration_files()}
    path.write_text(_HEADER + json.dumps(header) + "\n" + "\n;\n".join(statements) + "\n;\n")


def is_current(database_url: str) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from rempart.core.db import get_engine

    config = alembic_config(database_url)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with get_engine(database_url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def managed_by_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Objects the migrations create by hand are not the models' business: the FTS5
    table and its shadow tables, and PostgreSQL's tsvector column and its index."""
    return not (name or "").startswith(("search_fts", "terms_tsv", "ix_search_documents_terms"))

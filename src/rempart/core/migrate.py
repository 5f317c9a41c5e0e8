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
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from rempart.core.db import get_engine, is_sqlite, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
SNAPSHOT = MIGRATIONS / "sqlite-schema.sql"
_HEADER = "-- rempart schema snapshot: "


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

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
    if is_sqlite(database_url) and _create_from_snapshot(database_url):
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
    snapshot = _snapshot()
    if snapshot is None:
        return False
    _header, script = snapshot
    engine = get_engine(database_url)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        cursor = raw.cursor()
        # BEGIN IMMEDIATE: two processes creating the same fresh file serialise here, and
        # the second finds tables and leaves the file to the migrations.
        cursor.execute("BEGIN IMMEDIATE")
        try:
            existing = cursor.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if existing:
                cursor.execute("ROLLBACK")
                return False
            for statement in _statements(script):
                cursor.execute(statement)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
    return True


def _statements(script: str) -> list[str]:
    """The snapshot's statements: one per line block, ended by a line ``;``."""
    return [s.strip() for s in script.split("\n;\n") if s.strip()]


def _objects(database_url: str) -> list[tuple[str, str, str, str | None]]:
    """Type, name, table and SQL of each object of a SQLite database, in creation order, and
    its Alembic revision."""
    engine = get_engine(database_url)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        rows = raw.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        ).fetchall()
        version = raw.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*rows, *(("alembic_version", str(v), "", None) for (v,) in version)]


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
    statements: list[str] = []
    shadow: set[str] = set()
    rows = _objects(database_url)
    for kind, name, _table, sql in rows:
        if kind == "table" and sql and sql.upper().startswith("CREATE VIRTUAL TABLE"):
            # FTS5 creates its shadow tables itself.
            shadow.update(n for k, n, _t, _s in rows if k == "table" and n.startswith(f"{name}_"))
    for kind, name, _table, sql in rows:
        if kind == "alembic_version":
            if not re.fullmatch(r"[0-9A-Za-z_]+", name):
                raise ValueError(f"unexpected revision {name!r}")
            insert = f"INSERT INTO alembic_version (version_num) VALUES ('{name}')"  # noqa: S608
            statements.append(insert)
        elif sql and name not in shadow and not name.startswith("sqlite_"):
            statements.append(sql.strip())
    header = {"migrations": migration_files()}
    path.write_text(_HEADER + json.dumps(header) + "\n" + "\n;\n".join(statements) + "\n;\n")


def is_current(database_url: str) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config(database_url)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with get_engine(database_url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def managed_by_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Objects the migrations create by hand are not the models' business: the FTS5
    table and its shadow tables, and PostgreSQL's tsvector column and its index."""
    return not (name or "").startswith(("search_fts", "terms_tsv", "ix_search_documents_terms"))

"""A fresh SQLite database is created from the schema snapshot, which is exactly what the
migrations build; a snapshot that does not match the migration files is not used."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli import app
from rempart.core import migrate
from rempart.core.db import get_engine


def fresh(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def test_the_snapshot_is_what_the_migrations_build(tmp_path: Path) -> None:
    migrated, created = fresh(tmp_path, "migrated.db"), fresh(tmp_path, "created.db")
    migrate.upgrade(migrated)
    assert migrate.create_or_upgrade(created) == "snapshot", (
        "the snapshot does not list the migration files: run `rempart db snapshot`"
    )
    # Same tables (columns, constraints), indexes, triggers, FTS table, and the rows the
    # migrations write (the Alembic revision, the audit log's empty tail).
    assert migrate.schema_of(created) == migrate.schema_of(migrated), (
        "the snapshot differs from the migrations' schema: run `rempart db snapshot`"
    )


def test_a_database_created_from_the_snapshot_takes_later_migrations(tmp_path: Path) -> None:
    url = fresh(tmp_path, "r.db")
    migrate.create_or_upgrade(url)
    # Alembic finds it at the head: nothing to run, and it says so.
    assert migrate.is_current(url)
    assert migrate.create_or_upgrade(url) == "migrations"


def test_a_stale_snapshot_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new migration (or a merge) that nobody snapshotted: the migrations run instead."""
    stale = tmp_path / "stale.sql"
    text = migrate.SNAPSHOT.read_text()
    stale.write_text(text.replace('.py"]}', '.py", "0099_not_snapshotted.py"]}', 1))
    monkeypatch.setattr(migrate, "SNAPSHOT", stale)
    url = fresh(tmp_path, "r.db")
    assert migrate.create_or_upgrade(url) == "migrations"
    assert migrate.is_current(url)


def test_an_existing_database_is_migrated_not_recreated(tmp_path: Path) -> None:
    url = fresh(tmp_path, "r.db")
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql("CREATE TABLE operator_notes (note TEXT)")
    assert migrate.create_or_upgrade(url) == "migrations"
    assert migrate.is_current(url)


def test_db_upgrade_creates_a_fresh_database_from_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh(tmp_path, "cli.db")
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert migrate.is_current(url)
    assert migrate.create_or_upgrade(url) == "migrations"  # already there: nothing to do

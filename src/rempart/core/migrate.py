"""Alembic, configured in code so that an installed package can migrate itself."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from rempart.core.db import get_engine, normalise_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "rempart:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def is_current(database_url: str) -> bool:
    config = alembic_config(database_url)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with get_engine(database_url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def managed_by_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Objects the migrations create by hand are not the models' business: the FTS5
    table and its shadow tables, and PostgreSQL's tsvector column and its index."""
    return not (name or "").startswith(("search_fts", "terms_tsv", "ix_search_documents_terms"))

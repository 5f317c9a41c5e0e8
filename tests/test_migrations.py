"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rempart.core.db import Base, get_engine
from rempart.core.migrate import managed_by_models


def test_migrations_match_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": managed_by_models}
        )
        assert compare_metadata(context, Base.metadata) == []

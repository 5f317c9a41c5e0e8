from __future__ import annotations

from alembic import context

# Imported for their side effect: each registers its tables on Base.metadata.
from rempart.audit import models as audit_models  # noqa: F401
from rempart.auth import models as auth_models  # noqa: F401
from rempart.auth import signin_models  # noqa: F401
from rempart.core import models as core_models  # noqa: F401
from rempart.core.db import Base, get_engine
from rempart.core.migrate import managed_by_models
from rempart.escalations import models as escalations_models  # noqa: F401
from rempart.hotline import models as hotline_models  # noqa: F401
from rempart.legal import models as legal_models  # noqa: F401
from rempart.moderation import models as moderation_models  # noqa: F401
from rempart.platform import models as platform_models  # noqa: F401
from rempart.preservation import models as preservation_models  # noqa: F401
from rempart.reports import models as reports_models  # noqa: F401
from rempart.search import models as search_models  # noqa: F401
from rempart.transparency import models as transparency_models  # noqa: F401

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=managed_by_models,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

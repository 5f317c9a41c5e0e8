"""What every command group shares: consoles, the --database-url option, the runtime."""

from __future__ import annotations

from typing import Annotated

import click
import typer
from rich.console import Console

from rempart.core import crypto
from rempart.core.clock import Clock, SystemClock
from rempart.core.db import get_engine
from rempart.core.deps import Runtime
from rempart.core.errors import ConfigurationError, RempartError
from rempart.core.settings import Settings

console = Console()
err = Console(stderr=True)
CLI_ACTOR = "system:cli"

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="REMPART_DATABASE_URL", help="SQLAlchemy URL of the database."
    ),
]


def cli_settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def cli_runtime(database_url: str | None) -> Runtime:
    settings = cli_settings(database_url)
    try:
        keys = crypto.load_keyring(settings.key_file, demo=settings.demo)
    except ConfigurationError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    return Runtime(
        settings=settings,
        engine=get_engine(
            settings.database_url, lock_timeout=settings.database_lock_timeout_seconds
        ),
        keys=keys,
        clock=given_clock(),
    )


def given_clock() -> Clock:
    """The clock the caller of the command line gave in its context object
    (``{"clock": ...}``, as a test harness or an embedding program passes it to ``main``),
    or the system's."""
    context = click.get_current_context(silent=True)
    given = context.find_root().obj if context is not None else None
    held = given.get("clock") if isinstance(given, dict) else None
    return held if held is not None else SystemClock()


def fail(exc: RempartError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    return typer.Exit(1)

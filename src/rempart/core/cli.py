"""What every command group shares: consoles, the --database-url option, the runtime."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from rempart.core import crypto
from rempart.core.clock import Clock, SystemClock
from rempart.core.errors import ConfigurationError, RempartError
from rempart.core.settings import Settings

if TYPE_CHECKING:
    from rempart.core.deps import Runtime

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
    # Imported here: `rempart serve` uses this module without SQLAlchemy or FastAPI.
    from rempart.core.db import get_engine
    from rempart.core.deps import Runtime

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


# The clock the caller of this command gave, for the command's runtime (``take_context``).
_given_clock: ContextVar[Clock | None] = ContextVar("rempart_cli_clock", default=None)


def take_context(obj: object) -> None:
    """Called by the root command with its context object: ``{"clock": ...}`` (as a test
    harness or an embedding program passes ``obj`` to ``main``) gives the commands' runtime
    its clock; without one, the system's. Set on every invocation, so none outlives it."""
    _given_clock.set(obj.get("clock") if isinstance(obj, dict) else None)


def given_clock() -> Clock:
    return _given_clock.get() or SystemClock()


def exit_on_invalid_settings(exc: ValidationError) -> None:
    """A bad REMPART_* variable: say which and why, without a traceback, and exit 2. Any
    other validation error is a bug and is raised again."""
    if exc.title != Settings.__name__:
        raise exc
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        err.print(f"[red]invalid_settings[/red]: {where}: {error['msg']}")
    sys.exit(2)


def fail(exc: RempartError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    return typer.Exit(1)

"""The ``rempart`` command's entry point, and `rempart serve`.

`rempart serve` only checks the configuration and hands over to uvicorn, whose processes
import the app: it does not import the rest of the CLI (every domain, FastAPI,
SQLAlchemy: a second of CPU, which on a loaded machine was five to ten seconds before the
first web process even started). Every other command goes to ``rempart.cli``, which
registers this same `serve`, so `rempart --help` lists it and its options are defined once.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from rempart.core import crypto
from rempart.core.cli import DatabaseUrl, cli_settings, err, exit_on_invalid_settings
from rempart.core.errors import ConfigurationError
from rempart.startup import TURN_FILE

# PostgreSQL's spellings and SQLite's: what `make_engine` accepts (core/db.py).
_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


def check_database_url(url: str) -> None:
    """Refuse a database URL no web process could open, without importing SQLAlchemy."""
    scheme, separator, _rest = url.partition("://")
    if not separator or scheme not in _SCHEMES:
        raise ConfigurationError(
            "REMPART_DATABASE_URL must be a sqlite:/// or postgresql:// URL, "
            f"not {scheme or url!r}."
        )


def serve(
    database_url: DatabaseUrl = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (loopback by default).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo_setup: Annotated[
        bool,
        typer.Option(
            "--demo-setup",
            help="Demo mode only: create the demo keys and the database (or migrate it) first.",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API. Scheduled work runs in `rempart worker`, never here."""
    settings = cli_settings(database_url)
    bind = {"host": host or settings.host, "port": port or settings.port, "log_level": "info"}
    try:
        check_database_url(settings.database_url)
        if demo_setup:
            if not settings.demo:
                raise ConfigurationError("--demo-setup is for the demo (REMPART_DEMO=1).")
            from rempart.core.migrate import create_or_upgrade

            # Demo keys are written on first use (core/crypto.py); a fresh SQLite database
            # is created from the schema snapshot, with neither Alembic nor SQLAlchemy.
            crypto.load_keyring(settings.key_file, demo=True)
            create_or_upgrade(settings.database_url)
        if settings.web_workers > 1:
            # Each web process builds its own app: the supervisor only checks what would make
            # them all fail to start (key file, database URL), without importing the app.
            crypto.load_keyring(settings.key_file, demo=settings.demo)
        else:
            from rempart.app import create_app

            application = create_app(settings)
    except ConfigurationError as exc:
        err.print(f"[red]Refusing to start:[/red] {exc.message}")
        raise typer.Exit(2) from None
    if settings.web_workers == 1:
        import uvicorn

        # uvicorn's access log writes client addresses in clear; the app logs networks'
        # keyed hashes instead (web/access_log.py).
        uvicorn.run(application, access_log=False, **bind)  # type: ignore[arg-type]
        return
    # Worker processes build their own app from the environment, one at a time
    # (rempart/startup.py).
    os.environ["REMPART_DATABASE_URL"] = settings.database_url
    os.environ[TURN_FILE] = str(settings.key_file.resolve())
    # uvicorn starts its processes with "spawn", which re-imports the parent's main module
    # before a child can answer its supervisor's health check: with the CLI as the main
    # module that import alone takes seconds on a loaded machine, and children were killed
    # and restarted for ever. As `python -m uvicorn` the children answer at once and import
    # the app afterwards; the health-check timeout is a setting besides.
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "rempart.startup:create_web_process_app",
        "--factory",
        f"--workers={settings.web_workers}",
        f"--host={bind['host']}",
        f"--port={bind['port']}",
        f"--timeout-worker-healthcheck={settings.web_healthcheck_timeout_seconds}",
        "--log-level=info",
        "--no-access-log",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - becomes the supervisor; argv built above


def main() -> None:
    """`rempart serve …` here; every other command (and any help) in ``rempart.cli``."""
    args = sys.argv[1:]
    helping = any(a in ("--help", "-h") or a.endswith("-completion") for a in args)
    if args[:1] != ["serve"] or helping:
        from rempart.cli import main as cli_main

        cli_main()
        return
    from pydantic import ValidationError

    command = typer.Typer(add_completion=False)
    command.command()(serve)
    try:
        command(args=args[1:], prog_name="rempart serve")
    except ValidationError as exc:
        exit_on_invalid_settings(exc)


if __name__ == "__main__":
    main()

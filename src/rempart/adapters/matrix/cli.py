"""`rempart matrix …`: sync a Synapse homeserver once, carry out due actions."""

from __future__ import annotations

import typer
from rich.table import Table

from rempart.adapters.matrix import actions
from rempart.adapters.matrix.client import HomeserverError, SynapseAdmin
from rempart.adapters.matrix.sync import sync
from rempart.core.cli import DatabaseUrl, cli_runtime, console, err
from rempart.core.deps import Runtime

matrix_app = typer.Typer(help="The Matrix (Synapse) connector.", no_args_is_help=True)


def _homeserver(database_url: str | None) -> tuple[Runtime, SynapseAdmin]:
    rt = cli_runtime(database_url)
    if not actions.enabled(rt.settings):
        err.print(
            "[red]matrix_not_configured[/red]: set REMPART_MATRIX_HOMESERVER_URL and "
            "REMPART_MATRIX_ADMIN_TOKEN (see the README, 'Connect a Matrix homeserver')."
        )
        raise typer.Exit(2)
    return rt, SynapseAdmin.from_settings(rt.settings)


@matrix_app.command("sync")
def sync_once(database_url: DatabaseUrl = None) -> None:
    """Sync users, connections, public rooms, their messages and event reports once."""
    rt, homeserver = _homeserver(database_url)
    try:
        summary = sync(rt, homeserver)
    except HomeserverError as exc:
        err.print(f"[red]homeserver_error[/red]: {exc} (the next sync resumes from here)")
        raise typer.Exit(1) from None
    finally:
        homeserver.close()
    table = Table("synced", "stored", title="Matrix sync")
    for name in ("accounts", "connections", "rooms", "rooms_gone", "posts", "reports"):
        table.add_row(name, str(getattr(summary, name)))
    table.add_row("reports skipped (not public)", str(summary.reports_skipped))
    table.add_row("records refused", str(summary.refused))
    console.print(table)


@matrix_app.command("act")
def act(database_url: DatabaseUrl = None) -> None:
    """Carry out the homeserver actions that decisions have made due."""
    rt, homeserver = _homeserver(database_url)
    try:
        counts = actions.run_due(rt, homeserver)
    finally:
        homeserver.close()
    console.print(", ".join(f"{name}: {count}" for name, count in counts.items()))

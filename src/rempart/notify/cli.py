"""``rempart notify``: the webhook's deliveries and dead letters."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from rempart.core.cli import CLI_ACTOR, DatabaseUrl, cli_runtime, console, fail
from rempart.core.db import transaction
from rempart.core.errors import RempartError
from rempart.notify import webhook


class State(StrEnum):
    PENDING = webhook.PENDING
    DELIVERED = webhook.DELIVERED
    DEAD = webhook.DEAD


notify_app = typer.Typer(
    help="Messages to users and authorities: webhook deliveries and dead letters.",
    no_args_is_help=True,
)


@notify_app.command("list")
def list_deliveries(
    state: Annotated[State, typer.Option(help="Which deliveries.")] = State.DEAD,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliveries in one state, newest first (what they say stays encrypted)."""
    rt = cli_runtime(database_url)
    with transaction(rt.engine, readonly=True) as session:
        for row in webhook.deliveries(session, state=state.value, limit=limit):
            console.print(
                f"{row.id}\t{row.kind}\t{row.message_key}\tattempts={row.attempts}\t"
                f"{row.last_error or ''}"
            )


@notify_app.command("replay")
def replay(delivery_id: int, database_url: DatabaseUrl = None) -> None:
    """Send a delivery again (a dead letter, or one the receiver lost), now."""
    rt = cli_runtime(database_url)
    now = rt.now()
    try:
        previous = webhook.replay(
            rt.engine, rt.settings, delivery_id=delivery_id, actor=CLI_ACTOR, now=now
        )
    except RempartError as exc:
        raise fail(exc) from None
    counts = webhook.deliver_due(rt.engine, rt.settings, rt.keys, now=now, only=delivery_id)
    if counts[webhook.DELIVERED]:
        console.print(f"delivery {delivery_id} ({previous}) replayed: delivered")
    else:
        console.print(
            f"delivery {delivery_id} ({previous}) replayed: not delivered yet; the worker "
            "retries it with backoff"
        )

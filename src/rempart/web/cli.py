"""`rempart user …`: browser sign-in for staff and authorities."""

from __future__ import annotations

from typing import Annotated

import typer

from rempart.auth import service as auth_service
from rempart.auth.service import parse_role
from rempart.core.cli import CLI_ACTOR, DatabaseUrl, cli_runtime, console, fail
from rempart.core.clock import utcnow
from rempart.core.errors import RempartError
from rempart.web import auth

user_app = typer.Typer(help="Browser sign-in (password and TOTP).", no_args_is_help=True)


@user_app.command("create")
def create(
    username: Annotated[str, typer.Option(help="What the person types to sign in.")],
    principal: Annotated[str, typer.Option(help="The principal's name (created if new).")],
    role: Annotated[str, typer.Option(help="Its role, if the principal is new.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create a sign-in; prints a generated password and the TOTP secret (once)."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            owner = auth_service.ensure_principal(
                session, role=parse_role(role), name=principal, actor=CLI_ACTOR
            )
            login = auth.create_login(
                session,
                rt.keys,
                principal=owner,
                username=username,
                password=None,
                actor=CLI_ACTOR,
                now=utcnow(),
            )
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"username: {login.username}")
    console.print(f"password: {login.password}")
    console.print(f"TOTP secret: {login.totp_secret}")
    console.print(f"otpauth URI: {login.otpauth_uri}")

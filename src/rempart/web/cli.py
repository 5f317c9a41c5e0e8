"""`rempart user …`: browser sign-in for staff and authorities."""

from __future__ import annotations

from typing import Annotated

import typer

from rempart.auth import service as auth_service
from rempart.auth import signin as auth
from rempart.auth.service import parse_role
from rempart.core.cli import CLI_ACTOR, DatabaseUrl, cli_runtime, console, fail
from rempart.core.errors import RempartError

user_app = typer.Typer(help="Browser sign-in (password and TOTP).", no_args_is_help=True)


@user_app.command("create")
def create(
    username: Annotated[str, typer.Option(help="What the person types to sign in.")],
    principal: Annotated[str, typer.Option(help="The name of a NEW principal.")],
    role: Annotated[str, typer.Option(help="Its role (admin only while bootstrapping).")],
    database_url: DatabaseUrl = None,
) -> None:
    """The operator's bootstrap: a new principal with a sign-in; prints a generated
    password and the TOTP secret (once). Everyone else enrols: /console/enrol."""
    rt = cli_runtime(database_url)
    # Hashed before the write transaction, which must not hold SQLite's lock meanwhile.
    login_secrets = auth.new_login_secrets()
    try:
        with rt.unit_of_work() as session:
            owner = auth_service.bootstrap_principal(
                session, role=parse_role(role), name=principal, actor=CLI_ACTOR
            )
            login = auth.create_login(
                session,
                rt.keys,
                principal=owner,
                username=username,
                password=None,
                actor=CLI_ACTOR,
                now=rt.now(),
                prepared=login_secrets,
            )
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"username: {login.username}")
    console.print(f"password: {login.password}")
    console.print(f"TOTP secret: {login.totp_secret}")
    console.print(f"otpauth URI: {login.otpauth_uri}")


@user_app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Console sign-ins and their status."""
    rt = cli_runtime(database_url)
    with rt.unit_of_work(readonly=True) as session:
        rows = auth.list_logins(session)
    for row in rows:
        console.print(f"{row.username:<24} {row.principal:<32} {row.status}")


@user_app.command("disable")
def disable(username: str, database_url: DatabaseUrl = None) -> None:
    """Disable a sign-in at once (its sessions end)."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            auth.disable_login(session, username=username, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"{username} is disabled.")


@user_app.command("reset-totp")
def reset_totp(username: str, database_url: DatabaseUrl = None) -> None:
    """Void a sign-in's second factor; prints the code with which the person sets a new
    one, with their own password, at /console/enrol."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            issued = auth.start_totp_reset(
                session, username=username, settings=rt.settings, actor=CLI_ACTOR
            )
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(issued.code)

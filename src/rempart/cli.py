"""The ``rempart`` command: one Typer app, one sub-command group per domain."""

# ruff: noqa: E402 - the garbage collector is paused before the imports, as in app.py.
from __future__ import annotations

import gc

# Every command imports most of Rempart first: long-lived objects, hardly any garbage (see
# app.py). `make demo` runs several commands before it serves.
_collecting = gc.isenabled()
gc.disable()

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

# Subscribes the domains to each other's hooks (subscriptions.py).
import rempart.subscriptions  # noqa: F401
from rempart import launcher
from rempart.adapters.matrix.cli import matrix_app
from rempart.audit import service as audit
from rempart.audit.schemas import ConsistencyProof, SignedTreeHead
from rempart.auth import service as auth
from rempart.core import crypto
from rempart.core.cli import (
    CLI_ACTOR,
    DatabaseUrl,
    cli_runtime,
    cli_settings,
    console,
    err,
    exit_on_invalid_settings,
    fail,
    take_context,
)
from rempart.core.db import get_engine, transaction
from rempart.core.errors import ConfigurationError, RempartError
from rempart.core.settings import Settings
from rempart.legal.cli import authority_app, order_app
from rempart.moderation.cli import banks_app, classify, moderation_app
from rempart.notify.cli import notify_app
from rempart.transparency.cli import dsa_app, transparency_app
from rempart.web.cli import user_app

if _collecting:
    gc.enable()
gc.freeze()

app = typer.Typer(
    help="Rempart: trust-&-safety and lawful-disclosure back office.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="The key file: data keys, blind-index key, signing key.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.callback()
def _root(ctx: typer.Context) -> None:
    take_context(ctx.obj)


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: verify, heads and proofs.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of connection records.", no_args_is_help=True)
demo_app = typer.Typer(help="The synthetic demo platform.", no_args_is_help=True)
for name, group in [
    ("keys", keys_app),
    ("db", db_app),
    ("token", token_app),
    ("audit", audit_app),
    ("retention", retention_app),
    ("demo", demo_app),
    ("authority", authority_app),
    ("order", order_app),
    ("banks", banks_app),
    ("moderation", moderation_app),
    ("transparency", transparency_app),
    ("dsa", dsa_app),
    ("user", user_app),
    ("matrix", matrix_app),
    ("notify", notify_app),
]:
    app.add_typer(group, name=name)
app.command("classify")(classify)

# -- serve and worker -------------------------------------------------------------------


# Defined with the entry point, which runs it without importing the rest of the CLI.
app.command()(launcher.serve)


@app.command()
def worker(
    database_url: DatabaseUrl = None,
    once: Annotated[bool, typer.Option(help="Run one round and exit.")] = False,
) -> None:
    """Run queued jobs, sign audit tree heads every second and purge expired records daily."""
    import logging

    from rempart.core.db import background_writes
    from rempart.worker import Worker, limit_classifier_threads

    settings = cli_settings(database_url)
    limit_classifier_threads(settings.worker_classifier_threads)
    # Requests' writes first: the worker's give way while one waits (SQLite).
    background_writes(settings.worker_write_yield_seconds)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runner = Worker(cli_runtime(database_url))
    if once:
        while runner.tick():
            pass
        runner.sign_head()
    else:
        runner.run_forever()


# -- keys -----------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(
    force: Annotated[
        bool, typer.Option(help="Overwrite an existing key file (data becomes unreadable).")
    ] = False,
    demo: Annotated[bool, typer.Option(help="Mark the keys as demo keys.")] = False,
) -> None:
    """Write a new key file: AES-GCM data key, HMAC blind-index key, Ed25519 signing key."""
    path = Settings().key_file
    if path.exists() and not force:
        err.print(f"A key file already exists at {path}; keeping it.")
        raise typer.Exit(0 if demo else 1)
    crypto.write_key_file(path, crypto.KeyRing.generate(demo=demo))
    # A ring cached from the old file (same process) must not outlive it.
    crypto.forget_keyrings()
    console.print(
        f"Key file written to {path} (mode 600). Back it up: without it the data cannot be read."
    )


@keys_app.command("rotate")
def keys_rotate(database_url: DatabaseUrl = None) -> None:
    """Add a new data key, make it active and re-encrypt every ciphertext with it."""
    from rempart.keys import rotate_data_key

    rt = cli_runtime(database_url)
    count = rotate_data_key(rt, console=console)
    active = crypto.read_key_file(rt.settings.key_file).active_key_id
    console.print(f"Re-encrypted {count} values; the active data key is now {active}.")


# -- database -------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Migrate the database to the latest schema (a fresh SQLite file: created at once from
    the schema snapshot the migrations produce)."""
    from rempart.core.migrate import create_or_upgrade

    settings = cli_settings(database_url)
    create_or_upgrade(settings.database_url)
    console.print("Database is at the latest revision.")


@db_app.command("snapshot")
def db_snapshot() -> None:
    """Rewrite the SQLite schema snapshot (migrations/sqlite-schema.sql) from a fresh
    database migrated to the head: after adding a migration."""
    import tempfile

    from rempart.core.migrate import SNAPSHOT, upgrade, write_snapshot

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'fresh.db'}"
        upgrade(url)
        write_snapshot(url)
        get_engine(url).dispose()
    console.print(f"Wrote {SNAPSHOT}.")


# -- tokens ---------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="platform, authority, moderator, flagger, or admin (bootstrap).")
    ],
    name: Annotated[str, typer.Option(help="Name of a NEW principal.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create a new principal and print its first API token (shown once). An existing
    name is refused: nobody is handed another's credentials. The admin role only while
    the install has fewer than two admins; legal and auditor need two admins (API)."""
    settings = cli_settings(database_url)
    try:
        parsed = auth.parse_role(role)
        with transaction(get_engine(settings.database_url)) as session:
            principal = auth.bootstrap_principal(session, role=parsed, name=name, actor=CLI_ACTOR)
            created = auth.issue_token(
                session,
                principal=principal,
                lifetime=auth.token_lifetime(settings, parsed),
                actor=CLI_ACTOR,
            )
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(created.token)


@token_app.command("list")
def token_list(
    name: Annotated[str | None, typer.Option(help="Only this principal's tokens.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List API tokens (id, prefix, expiry, revocation; never the secret)."""
    settings = cli_settings(database_url)
    with transaction(get_engine(settings.database_url), readonly=True) as session:
        rows = auth.list_tokens(session, principal_name=name)
    for row in rows:
        state = "revoked" if row.revoked_at else f"expires {row.expires_at or 'never'}"
        console.print(f"{row.id:>6}  {row.prefix}  {row.principal:<32} {state}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `token list`).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token: it answers 401 token_revoked from the next request on."""
    settings = cli_settings(database_url)
    try:
        with transaction(get_engine(settings.database_url)) as session:
            row = auth.revoke_token(session, token_id=token_id, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"Token {row.id} ({row.prefix}) of {row.principal} is revoked.")


@token_app.command("enrol")
def token_enrol(
    role: Annotated[str, typer.Option(help="platform, authority, moderator or flagger.")],
    name: Annotated[str, typer.Option(help="Name of a NEW principal.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create a principal and print the one-time code its owner redeems (API
    /v1/auth/enrolments/redeem or the console page /console/enrol)."""
    from rempart.auth import enrolment

    settings = cli_settings(database_url)
    try:
        parsed = auth.parse_role(role)
        with transaction(get_engine(settings.database_url)) as session:
            issued = enrolment.enrol_principal(
                session, role=parsed, name=name, settings=settings, actor=CLI_ACTOR
            )
    except RempartError as exc:
        raise fail(exc) from None
    err.print(f"Code for {issued.principal}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC:")
    typer.echo(issued.code)


# -- audit ----------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(database_url: DatabaseUrl = None) -> None:
    """Check the whole log against every signed head; exit 1 naming the first bad entry."""
    rt = cli_runtime(database_url)
    with rt.unit_of_work(readonly=True) as session:
        result = audit.verify_log(session, head_file=rt.head_file, keys=rt.keys)
    if result.ok:
        heads = result.heads_checked
        console.print(f"[green]ok[/green]: {result.entries} entries, {heads} signed heads.")
        return
    if result.first_bad_entry is None:
        err.print("[red]AUDIT LOG BROKEN[/red]: no single entry to blame; see the problems below")
    else:
        err.print(f"[red]AUDIT LOG BROKEN[/red]: first bad entry {result.first_bad_entry}")
    for problem in result.problems:
        err.print(f" - {problem}")
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head(
    database_url: DatabaseUrl = None,
    sign: Annotated[bool, typer.Option(help="Sign a new head first if the log grew.")] = False,
) -> None:
    """Print the latest signed tree head as JSON."""
    rt = cli_runtime(database_url)
    try:
        if sign:
            audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
        with rt.unit_of_work(readonly=True) as session:
            head = audit.latest_head(session, keys=rt.keys)
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(head.model_dump_json(indent=2))


@audit_app.command("prove")
def audit_prove(
    entry: Annotated[int, typer.Option(help="Sequence number of the entry.")],
    tree_size: Annotated[
        int | None, typer.Option(help="Size of a signed head (latest by default).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print an inclusion proof for an entry and check it against the signed head."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work(readonly=True) as session:
            proof = audit.prove_inclusion(session, keys=rt.keys, entry=entry, tree_size=tree_size)
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(proof.model_dump_json(indent=2))
    if not audit.check_inclusion(proof):
        err.print("[red]The inclusion proof does NOT verify.[/red]")
        raise typer.Exit(1)
    err.print("[green]inclusion proof verified[/green]")


def _load_head(value: str) -> int | SignedTreeHead:
    if value.isdigit():
        return int(value)
    try:
        return SignedTreeHead.model_validate_json(Path(value).read_text(encoding="utf-8"))
    except OSError:
        err.print(f"[red]Cannot read the head file {value}.[/red]")
    except ValidationError:
        err.print(f"[red]{value} does not hold a signed tree head (JSON).[/red]")
    raise typer.Exit(2)


@audit_app.command("consistency")
def audit_consistency(
    old_head: Annotated[
        str, typer.Argument(help="A tree size, or a file holding a signed head (JSON).")
    ],
    new_head: Annotated[
        str, typer.Argument(help="A tree size, or a file holding a signed head (JSON).")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Prove that the log at NEW_HEAD extends the log at OLD_HEAD, and check the proof."""
    rt = cli_runtime(database_url)
    old, new = _load_head(old_head), _load_head(new_head)
    old_size = old if isinstance(old, int) else old.tree_size
    new_size = new if isinstance(new, int) else new.tree_size
    try:
        with rt.unit_of_work(readonly=True) as session:
            proof = audit.prove_consistency(session, keys=rt.keys, first=old_size, second=new_size)
    except RempartError as exc:
        raise fail(exc) from None
    # Heads given as files are the ones the caller kept: check the proof against those.
    proof = ConsistencyProof(
        first=old if isinstance(old, SignedTreeHead) else proof.first,
        second=new if isinstance(new, SignedTreeHead) else proof.second,
        proof=proof.proof,
    )
    typer.echo(proof.model_dump_json(indent=2))
    if not audit.check_consistency(proof):
        err.print("[red]The heads are NOT consistent: the log was rewritten.[/red]")
        raise typer.Exit(1)
    err.print("[green]consistency proof verified[/green]")


# -- retention ------------------------------------------------------------------------


@retention_app.command("run")
def retention_run(database_url: DatabaseUrl = None) -> None:
    """Purge connection records older than the retention period, except those on legal hold."""
    from rempart.platform import service as platform

    rt = cli_runtime(database_url)
    with rt.unit_of_work() as session:
        purged = platform.purge_connections(
            session, retention_days=rt.settings.ip_retention_days, actor=CLI_ACTOR
        )
    console.print(
        f"Purged {purged} connection records older than {rt.settings.ip_retention_days} days."
    )


# -- demo -----------------------------------------------------------------------------


@demo_app.command("seed")
def demo_seed(
    database_url: DatabaseUrl = None,
    accounts: Annotated[int, typer.Option(help="Number of accounts.")] = 5000,
    connections: Annotated[int, typer.Option(help="Number of connection records.")] = 100_000,
    entities: Annotated[int, typer.Option(help="Number of public entities.")] = 300,
    posts: Annotated[int, typer.Option(help="Number of public posts.")] = 20_000,
    force: Annotated[bool, typer.Option(help="Seed again even if already seeded.")] = False,
) -> None:
    """Build a synthetic demo platform (resumable: events already stored are skipped)."""
    from rempart.demo.seed import seed

    rt = cli_runtime(database_url)
    try:
        seed(
            rt,
            console=console,
            force=force,
            accounts=accounts,
            connections=connections,
            entities=entities,
            posts=posts,
        )
    except RempartError as exc:
        raise fail(exc) from None


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]{exc.message}[/red]")
        sys.exit(2)
    except ValidationError as exc:
        exit_on_invalid_settings(exc)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

"""``rempart demo seed``: the synthetic platform, fed through the same ingest as real events."""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

# Subscribes the domains to each other's hooks (subscriptions.py).
import rempart.subscriptions  # noqa: F401
from rempart.audit import service as audit
from rempart.audit.exceptions import AuditLogBroken
from rempart.auth import service as auth
from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import ScheduleState
from rempart.demo.content import DemoSize, count_demo_events, demo_events
from rempart.platform import events as platform_events
from rempart.platform import service
from rempart.platform.schemas import event_batch_adapter

SEEDED_MARK = "demo_seed"
CHUNK = 5000
DEMO_ACTOR = "system:demo"
DEMO_PRINCIPALS = [
    ("demo-platform", Role.PLATFORM),
    ("demo-admin", Role.ADMIN),
    # A second admin, to confirm what the first proposes (privileged grants need two).
    ("demo-admin-2", Role.ADMIN),
    ("demo-auditor", Role.AUDITOR),
    ("demo-legal-1", Role.LEGAL),
    ("demo-legal-2", Role.LEGAL),
    ("demo-moderator", Role.MODERATOR),
    ("demo-moderator-2", Role.MODERATOR),
    ("demo-flagger", Role.FLAGGER),
]
LEGAL_SEEDED_MARK = "demo_legal_seed"
REPORTS_SEEDED_MARK = "demo_reports_seed"
# (username, principal) of the demo people who sign in with a browser.
DEMO_WEB_LOGINS = [
    ("moderator", "demo-moderator"),
    ("moderator2", "demo-moderator-2"),
    ("legal1", "demo-legal-1"),
    ("legal2", "demo-legal-2"),
    ("admin", "demo-admin"),
    ("admin2", "demo-admin-2"),
    ("auditor", "demo-auditor"),
    ("paris", "authority:fr-tj-paris"),
]


def credentials_file(rt: Runtime) -> Path:
    return rt.settings.key_file.parent / "demo-credentials.json"


def ensure_demo_principals(rt: Runtime) -> dict[str, str]:
    """Demo tokens, kept in a file beside the demo keys so `make demo` can show them again."""
    path = credentials_file(rt)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    with transaction(rt.engine) as session:
        existing = set(session.execute(select(Principal.name)).scalars())
        for name, role in DEMO_PRINCIPALS:
            # A principal already there keeps its credentials: nobody mints another's.
            if name in existing:
                continue
            known[name] = auth.create_token(session, role=role, name=name, actor=DEMO_ACTOR).token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(known, handle, indent=2)
    return {name: token for name, token in known.items() if isinstance(token, str)}


def is_seeded(rt: Runtime) -> bool:
    with transaction(rt.engine, readonly=True) as session:
        return session.get(ScheduleState, SEEDED_MARK) is not None


def seed(rt: Runtime, *, console: Console, force: bool = False, **sizes: int) -> None:
    if not rt.settings.demo and not rt.keys.demo:
        console.print("[yellow]Seeding synthetic data into a non-demo installation.[/yellow]")
    tokens = ensure_demo_principals(rt)
    if is_seeded(rt) and not force:
        console.print("The demo platform is already seeded; skipping (use --force to seed again).")
    else:
        size = DemoSize(**sizes)
        _ingest_all(rt, console=console, size=size)
    tokens.update(_seed_legal_once(rt, console=console))
    _seed_reports_once(rt, console=console, tokens=tokens)
    logins = _ensure_web_logins(rt)
    try:
        audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
    except AuditLogBroken:
        console.print(
            f"[red]The head file {rt.head_file} holds heads signed for another database.[/red] "
            "If you deleted the demo database on purpose, start over with `make clean`."
        )
        raise
    show_credentials(console, tokens, base=rt.settings.public_url)
    show_logins(console, logins, base=rt.settings.public_url)


def _ingest_all(rt: Runtime, *, console: Console, size: DemoSize) -> None:
    events = demo_events(size=size, now=rt.now())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Seeding the demo platform", total=count_demo_events(size))
        while chunk := list(islice(events, CHUNK)):
            batch = event_batch_adapter.validate_python({"events": chunk})
            digest = service.body_digest(json.dumps(chunk, sort_keys=True).encode())
            with transaction(rt.engine) as session:
                service.ingest(
                    session, keys=rt.keys, batch=batch, body_digest=digest, actor=DEMO_ACTOR
                )
            progress.advance(task, len(chunk))
    with transaction(rt.engine) as session:
        session.merge(ScheduleState(name=SEEDED_MARK, last_run_at=rt.now()))
        audit.record(session, platform_events.DemoSeeded(**_sizes(size)), actor=DEMO_ACTOR)


def _seed_legal_once(rt: Runtime, *, console: Console) -> dict[str, str]:
    """Demo authorities and orders in every state, once; their tokens join the others."""
    from rempart.demo.legal import seed_legal

    path = credentials_file(rt)
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    with transaction(rt.engine, readonly=True) as session:
        if session.get(ScheduleState, LEGAL_SEEDED_MARK) is not None:
            return {k: v for k, v in known.items() if k.startswith("authority:")}
    with console.status("Filing demo orders from demo authorities"):
        tokens = seed_legal(rt)
    with transaction(rt.engine) as session:
        session.merge(ScheduleState(name=LEGAL_SEEDED_MARK, last_run_at=rt.now()))
        audit.record(session, platform_events.DemoLegalSeeded(), actor=DEMO_ACTOR)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({**known, **tokens}, handle, indent=2)
    return tokens


def _seed_reports_once(rt: Runtime, *, console: Console, tokens: dict[str, str]) -> None:
    """Demo notices (organic ones and a raid on a lawful channel), once."""
    from rempart.demo.reports import seed_reports

    with transaction(rt.engine, readonly=True) as session:
        if session.get(ScheduleState, REPORTS_SEEDED_MARK) is not None:
            return
    with console.status("Sending demo notices"):
        sent = seed_reports(
            rt, platform_token=tokens["demo-platform"], flagger_token=tokens["demo-flagger"]
        )
    with transaction(rt.engine) as session:
        session.merge(ScheduleState(name=REPORTS_SEEDED_MARK, last_run_at=rt.now()))
        audit.record(session, platform_events.DemoReportsSeeded(sent=sent), actor=DEMO_ACTOR)


def _sizes(size: DemoSize) -> dict[str, int]:
    return {
        "accounts": size.accounts,
        "connections": size.connections,
        "entities": size.entities,
        "posts": size.posts,
    }


def _ensure_web_logins(rt: Runtime) -> dict[str, dict[str, str]]:
    """Browser sign-ins for the demo people, kept beside the demo tokens: a password and
    a TOTP secret each (add the otpauth URI to an authenticator app, or compute codes with
    `python -c "import pyotp; print(pyotp.TOTP('SECRET').now())"`)."""
    from rempart.auth import signin

    path = credentials_file(rt)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    logins: dict[str, dict[str, str]] = known.get("web_logins", {})
    # Hashed before the write transaction: each hash is slow on purpose.
    made = {
        username: signin.new_login_secrets()
        for username, _name in DEMO_WEB_LOGINS
        if username not in logins
    }
    with transaction(rt.engine) as session:
        for username, name in DEMO_WEB_LOGINS:
            principal = session.execute(
                select(Principal).where(Principal.name == name)
            ).scalar_one_or_none()
            if principal is None or username in logins:
                continue
            login = signin.create_login(
                session,
                rt.keys,
                principal=principal,
                username=username,
                password=None,
                actor=DEMO_ACTOR,
                now=rt.now(),
                prepared=made[username],
            )
            logins[username] = {
                "principal": name,
                "password": login.password,
                "totp_secret": login.totp_secret,
                "otpauth": login.otpauth_uri,
            }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({**known, "web_logins": logins}, handle, indent=2)
    return logins


def show_logins(console: Console, logins: dict[str, dict[str, str]], *, base: str) -> None:
    console.print(f"\n[bold]Demo console sign-ins[/bold] ({base}/console/login):")
    for username, login in logins.items():
        console.print(
            f"  {username:<11} password {login['password']}  TOTP secret {login['totp_secret']}",
            soft_wrap=True,
        )
        console.print(f"              {login['otpauth']}", soft_wrap=True, highlight=False)


def show_credentials(console: Console, tokens: dict[str, str], *, base: str) -> None:
    console.print("\n[bold]Demo API tokens[/bold] (synthetic installation only):")
    for name, token in tokens.items():
        console.print(f"  {name:<16} {token}")
    console.print(f'  e.g. curl -H "Authorization: Bearer <token>" {base}/v1/auth/me')

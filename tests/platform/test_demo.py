"""`rempart demo seed`: a small synthetic platform, through the same ingest as real events."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

import phonenumbers
import sqlalchemy as sa

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.demo.content import DemoSize, count_demo_events, demo_events
from rempart.demo.reports import LAWFUL_CHANNEL, RAIDERS
from rempart.legal.models import Order
from rempart.moderation import rescan
from rempart.moderation.models import ModerationItem
from rempart.platform.models import Account, Connection, Entity, IngestedEvent, Post
from rempart.reports.models import ReportCase
from rempart.worker import Worker

DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32")
]
SMALL = ["--accounts", "60", "--connections", "600", "--entities", "6", "--posts", "120"]


def _count(runtime: Runtime, model: type) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def test_seed_builds_the_platform_once(
    cli: Callable[..., Any], runtime: Runtime, env: dict[str, str]
) -> None:
    served = "http://127.0.0.1:8765"
    first = cli("demo", "seed", *SMALL, env={**env, "REMPART_PUBLIC_URL": served})
    assert first.exit_code == 0, first.stderr
    assert "demo-platform" in first.stdout
    # The addresses it prints are where this installation serves, not a fixed port.
    assert f"{served}/console/login" in first.stdout
    size = DemoSize(accounts=60, connections=600, entities=6, posts=120)
    # The demo notices bring a lawful channel and the fresh accounts that raid it.
    raid_events = 1 + 2 * RAIDERS
    assert _count(runtime, IngestedEvent) == count_demo_events(size) + raid_events
    assert _count(runtime, Account) == 60 + RAIDERS
    assert _count(runtime, Connection) == 600 + RAIDERS
    assert _count(runtime, Entity) >= 6
    assert _count(runtime, Post) >= 100

    again = cli("demo", "seed", *SMALL)
    assert again.exit_code == 0
    assert "already seeded" in again.stdout
    assert _count(runtime, IngestedEvent) == count_demo_events(size) + raid_events
    credentials = json.loads(
        (runtime.settings.key_file.parent / "demo-credentials.json").read_text()
    )
    assert set(credentials) >= {"demo-platform", "demo-admin", "demo-legal-1", "demo-legal-2"}
    assert "authority:fr-tj-paris" in credentials
    _check_demo_orders(runtime)
    _check_demo_notices(runtime)
    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.stderr


def test_demo_identifiers_are_reserved_or_synthetic() -> None:
    from datetime import UTC, datetime

    size = DemoSize(accounts=300, connections=2000, entities=10, posts=200)
    account_numbers: set[str] = set()
    for event in demo_events(size=size, now=datetime(2026, 11, 1, tzinfo=UTC)):
        if event["type"].startswith("account."):
            assert event["synthetic"] is True
            if event.get("phone_number"):
                number = phonenumbers.parse(event["phone_number"], None)
                assert phonenumbers.is_valid_number(number)
                account_numbers.add(phonenumbers.format_number(number, 0))
        elif event["type"] == "connection.seen":
            address = ipaddress.ip_address(event["ip"])
            assert any(address in network for network in DOCUMENTATION_NETWORKS), address
        elif event["type"].startswith("post.") and event.get("text"):
            # Numbers quoted in scam or doxxing posts never belong to an account.
            for match in phonenumbers.PhoneNumberMatcher(event["text"], "US"):
                quoted = phonenumbers.format_number(match.number, 0)
                assert quoted not in account_numbers


def _check_demo_orders(runtime: Runtime) -> None:
    """Demo authorities in several countries, keys in the demo key folder, and orders in
    every state the legal team meets."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            sa.select(Order.status, Order.country, Order.emergency, Order.overdue_flagged_at)
        ).all()
    statuses = {status for status, *_ in rows}
    assert statuses >= {
        "checks_passed",
        "checks_failed",
        "under_review",
        "approved",
        "partially_approved",
        "refused",
        "disclosed",
        "closed",
        "withdrawn",
        "preserved",
    }
    assert {country for _, country, *_ in rows} >= {"FR", "BE", "DE", "ES"}
    assert any(emergency for _, _, emergency, _ in rows)
    assert any(flagged is not None for *_, flagged in rows)
    folder = runtime.settings.key_file.parent / "demo-authority-keys"
    keys = sorted(folder.glob("*.jwk"))
    assert len(keys) >= 5
    assert all(k.stat().st_mode & 0o077 == 0 for k in keys)


def _check_demo_notices(runtime: Runtime) -> None:
    """Organic notices and a raid on a lawful channel, filed into cases by the worker."""
    worker = Worker(runtime)
    while worker.tick():
        pass
    with runtime.engine.connect() as connection:
        cases = connection.execute(
            sa.select(ReportCase.target_ref, ReportCase.raid_suspected, ReportCase.trusted_flagger)
        ).all()
    assert [ref for ref, raid, _ in cases if raid] == [LAWFUL_CHANNEL]
    assert sum(1 for _, raid, _ in cases if not raid) >= 10
    assert any(trusted for *_, trusted in cases)
    # A rescan of the whole corpus leaves every case's reason and priority in place.
    before = _queued_cases(runtime)
    with transaction(runtime.engine) as session:
        rescan.plan(session, media_only=False, reason="test", actor="test")
    while worker.tick():
        pass
    after = _queued_cases(runtime)
    assert after == before
    assert all(
        priority >= 1000 and ",trusted_flagger," in marks
        for trusted, priority, marks in after.values()
        if trusted
    )


def _queued_cases(runtime: Runtime) -> dict[str, tuple[bool, float, str]]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                ReportCase.target_ref,
                ReportCase.trusted_flagger,
                ModerationItem.priority,
                ModerationItem.reason_marks,
            ).join(ModerationItem, ModerationItem.id == ReportCase.item_id)
        ).all()
    return {ref: (trusted, priority, marks) for ref, trusted, priority, marks in rows}

"""`rempart retention run`: connection records older than retention are purged, except those a
live legal hold covers, and the purge is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import ingest
from rempart.audit.models import AuditEntry
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform.models import Connection, LegalHold

NOW = datetime.now(UTC)


def connection(event_id: str, user_id: str, age: timedelta) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "connection.seen",
        "occurred_at": (NOW - age).isoformat(),
        "user_id": user_id,
        "ip": "2001:db8::7",
        "port": 51000,
    }


def remaining(rt: Runtime) -> set[str]:
    """What is left, as 'user@age-in-days'."""
    with transaction(rt.engine, readonly=True) as session:
        rows = session.execute(select(Connection.user_id, Connection.seen_at)).all()
    return {f"{user}@{round((NOW - seen).total_seconds() / 86400)}" for user, seen in rows}


def purges(rt: Runtime) -> list[dict[str, Any]]:
    with transaction(rt.engine, readonly=True) as session:
        bodies = session.execute(
            select(AuditEntry.body)
            .where(AuditEntry.action == "platform.retention.purge")
            .order_by(AuditEntry.seq)
        ).scalars()
        return [json.loads(body) for body in bodies]


def hold(rt: Runtime, user_id: str, start: timedelta, end: timedelta, expires: timedelta) -> None:
    """A hold on ``user_id``'s records from ``start`` ago to ``end`` ago, expiring ``expires``
    from now (negative: already expired)."""
    with transaction(rt.engine) as session:
        session.add(
            LegalHold(
                user_id=user_id,
                period_start=NOW - start,
                period_end=NOW - end,
                expires_at=NOW + expires,
                reference=f"preservation-{user_id}",
                created_at=NOW - timedelta(days=30),
            )
        )


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_retention_purges_old_records_and_keeps_held_ones(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    assert runtime.settings.ip_retention_days == 365
    ingest(
        client,
        platform_headers,
        [
            connection("c1", "alice", days(10)),
            connection("c2", "alice", days(364)),
            connection("c3", "alice", days(366)),
            connection("c4", "alice", days(800)),
            # Held: an active hold for this user over this period.
            connection("c5", "held", days(400)),
            connection("c6", "held", days(500)),  # before the hold's period
            # A hold on someone else protects nobody here.
            connection("c7", "bob", days(400)),
            # The hold has expired: retention applies again.
            connection("c8", "expired", days(400)),
        ],
    )
    hold(runtime, "held", start=days(450), end=days(380), expires=days(30))
    hold(runtime, "someone-else", start=days(450), end=days(380), expires=days(30))
    hold(runtime, "expired", start=days(450), end=days(380), expires=-days(1))

    result = cli("retention", "run")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Purged 5" in result.stdout
    assert remaining(runtime) == {"alice@10", "alice@364", "held@400"}
    [entry] = purges(runtime)
    assert entry["actor"] == "system:cli"
    assert entry["details"]["purged"] == 5
    assert entry["details"]["retention_days"] == 365
    assert entry["details"]["held_records_remain"] is True

    # Running again purges nothing more, and says so in the log.
    assert cli("retention", "run").exit_code == 0
    assert remaining(runtime) == {"alice@10", "alice@364", "held@400"}
    assert [e["details"]["purged"] for e in purges(runtime)] == [5, 0]


def test_retention_period_comes_from_settings(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest(
        client,
        platform_headers,
        [
            connection("c1", "carol", days(20)),
            connection("c2", "carol", days(40)),
            connection("c3", "carol", days(200)),
        ],
    )
    env["REMPART_IP_RETENTION_DAYS"] = "30"
    monkeypatch.setenv("REMPART_IP_RETENTION_DAYS", "30")

    result = cli("retention", "run")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert remaining(runtime) == {"carol@20"}
    [entry] = purges(runtime)
    assert entry["details"]["purged"] == 2
    assert entry["details"]["retention_days"] == 30
    assert entry["details"]["held_records_remain"] is False


def test_hold_boundaries_are_inclusive(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    ingest(
        client,
        platform_headers,
        [
            connection("c1", "dave", days(400)),
            connection("c2", "dave", days(420)),
            connection("c3", "dave", days(421)),
            connection("c4", "dave", days(399)),
        ],
    )
    # The hold covers exactly the instants of c1 and c2.
    hold(runtime, "dave", start=days(420), end=days(400), expires=days(1))

    assert cli("retention", "run").exit_code == 0

    assert remaining(runtime) == {"dave@400", "dave@420"}

"""Deadlines, emergency validation, preservation holds and user notifications: the legal
work the worker does on a schedule, with the clock moved forward."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from factories import legal_world
from legal_support import (
    INSIDE,
    SUSPECT,
    LegalWorld,
    MovableClock,
    approve,
    bearer,
    claims,
    register_authority,
    release,
    sign,
    submit,
)
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import tasks
from rempart.platform.models import Connection
from rempart.platform.service import purge_connections

# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def run_tasks(runtime: Runtime) -> None:
    with transaction(runtime.engine) as session:
        tasks.run_deadlines(session, runtime)


def audit_actions(world: LegalWorld) -> list[str]:
    auditor = world.make_token(Role.AUDITOR)
    items = world.client.get("/v1/audit/entries?limit=1000", headers=bearer(auditor)).json()
    return [json.loads(e["body"])["action"] for e in items["items"]]


def test_overdue_orders_are_listed_and_raise_one_alert(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    client, court = world.client, world.court
    normal = submit(client, court, sign(court, claims(court))).json()
    urgent = submit(
        client,
        court,
        sign(
            court,
            claims(
                court,
                emergency=True,
                emergency_ground="imminent_threat_to_life",
                emergency_justification="Enlèvement en cours.",
            ),
        ),
    ).json()
    reviewer = bearer(world.reviewers[0])
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    due = client.get("/v1/legal/orders", params={"due_before": soon}, headers=reviewer).json()
    assert [o["reference"] for o in due["items"]] == [urgent["reference"]]

    moved.offset = timedelta(hours=9)
    overdue = client.get("/v1/legal/orders?overdue=true", headers=reviewer).json()
    assert [o["reference"] for o in overdue["items"]] == [urgent["reference"]]
    run_tasks(runtime)
    run_tasks(runtime)
    assert audit_actions(world).count("legal.order.overdue") == 1

    moved.offset = timedelta(days=11)
    run_tasks(runtime)
    assert audit_actions(world).count("legal.order.overdue") == 2
    view = client.get(f"/v1/legal/orders/{normal['reference']}", headers=court.headers).json()
    assert view["overdue"] is True


def test_emergency_without_validation_is_flagged_after_48_hours(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    client, admin = world.client, world.admin
    register_authority(
        client, admin, confirmer=world.second_admin, code="fr-parquet", kind="prosecutor"
    )
    police = register_authority(
        client,
        admin,
        confirmer=world.second_admin,
        code="fr-ofac",
        kind="police",
        parent="fr-parquet",
    )
    urgent = claims(
        police,
        emergency=True,
        emergency_ground="imminent_threat_to_life",
        emergency_justification="Menace d'attentat.",
    )
    order = submit(client, police, sign(police, urgent)).json()
    first, second = world.reviewers
    approve(client, order["reference"], first)
    approve(client, order["reference"], second)
    moved.offset = timedelta(hours=47)
    run_tasks(runtime)
    assert "legal.order.validation_overdue" not in audit_actions(world)
    moved.offset = timedelta(hours=49)
    run_tasks(runtime)
    run_tasks(runtime)
    actions = audit_actions(world)
    assert actions.count("legal.order.validation_overdue") == 1
    assert actions.count("legal.order.emergency_not_confirmed") == 1
    # The authority is told, and nothing can be released any more.
    seen = client.get(f"/v1/legal/orders/{order['reference']}", headers=police.headers).json()
    assert seen["validation_overdue"] is True
    late = release(client, order["reference"], first)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "emergency_not_confirmed"


def test_preservation_holds_records_past_retention_until_it_expires(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    client, court = world.client, world.court
    order = submit(client, court, sign(court, claims(court, order_type="preservation"))).json()
    assert order["status"] == "preserved"
    assert order["hold_expires_at"] is not None
    extended = client.post(
        f"/v1/legal/orders/{order['reference']}/extension", headers=court.headers
    ).json()
    assert extended["hold_expires_at"] > order["hold_expires_at"]
    twice = client.post(f"/v1/legal/orders/{order['reference']}/extension", headers=court.headers)
    assert twice.status_code == 409

    def suspect_connections() -> int:
        with transaction(runtime.engine, readonly=True) as session:
            rows = session.execute(select(Connection.id).where(Connection.user_id == SUSPECT))
            return len(rows.all())

    before = suspect_connections()
    # Retention shortened to 1 day: only the hold keeps the period's records.
    with transaction(runtime.engine) as session:
        purge_connections(session, retention_days=1, actor="test")
    held = suspect_connections()
    assert 0 < held < before

    moved.offset = timedelta(days=91)
    run_tasks(runtime)
    view = client.get(f"/v1/legal/orders/{order['reference']}", headers=court.headers).json()
    assert view["status"] == "closed"
    assert "legal.hold.expired" in audit_actions(world)
    with transaction(runtime.engine) as session:
        purge_connections(session, retention_days=1, actor="test")
    assert suspect_connections() == 0


def test_user_is_notified_once_confidentiality_ends(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    client, court = world.client, world.court
    secret_until = date.today() + timedelta(days=30)
    reference = submit(
        client, court, sign(court, claims(court, confidential_until=secret_until.isoformat()))
    ).json()["reference"]
    for reviewer in world.reviewers:
        approve(client, reference, reviewer)
    release(client, reference, world.reviewers[0])
    outbox = runtime.settings.notification_outbox
    run_tasks(runtime)
    assert not outbox.exists()

    moved.offset = timedelta(days=31)
    run_tasks(runtime)
    run_tasks(runtime)
    [notice] = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert notice["user_id"] == SUSPECT
    assert notice["order_reference"] == reference
    assert "message content" in notice["text_en"]
    view = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert view["status"] == "closed"


def test_production_order_takes_over_from_its_preservation(
    world: LegalWorld, runtime: Runtime
) -> None:
    client, court = world.client, world.court
    preservation = submit(
        client, court, sign(court, claims(court, order_type="preservation"))
    ).json()
    production = submit(
        client,
        court,
        sign(court, claims(court, preservation_reference=preservation["reference"])),
    ).json()
    assert production["status"] == "checks_passed"
    earlier = client.get(
        f"/v1/legal/orders/{preservation['reference']}", headers=court.headers
    ).json()
    assert earlier["status"] == "closed"
    # The production order's own hold now keeps the period's records from the purge.
    with transaction(runtime.engine) as session:
        purge_connections(session, retention_days=1, actor="test")
    for reviewer in world.reviewers:
        approve(client, production["reference"], reviewer)
    release(client, production["reference"], world.reviewers[0])
    package = client.get(
        f"/v1/legal/orders/{production['reference']}/disclosure", headers=court.headers
    ).json()["package"]
    assert [ip["address"] for ip in package["records"][0]["ip_addresses"]] == [
        ip for ip, _, _ in INSIDE
    ]

"""What an order to act or a TCO removal order took down stays down: whatever moderation
does next (a first scan, a rescan, an edit, a re-ingest, a moderator's "no violation",
an appeal upheld), only the order's own life may bring the item back."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from act_support import LINK, PROPAGANDA, act_claims, competent, seed_content
from factories import csrf_of, deliver, found, make_login, outbox, run_worker, sign_in
from legal_support import LegalWorld, legal_world, sign, submit
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import tasks as legal_tasks
from rempart.legal.models import Order
from rempart.moderation import tasks as moderation_tasks
from rempart.moderation.models import ModerationItem


def _removal(world: LegalWorld, **changes: Any) -> str:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    response = submit(world.client, tco, sign(tco, act_claims(tco, **changes)))
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


def _act_now(runtime: Runtime, reference: str) -> None:
    """The order's job run ahead of the other queued jobs (the first scan among them), as
    a worker that took the order's job first would."""
    with transaction(runtime.engine) as session:
        order_id = session.execute(
            sa.select(Order.id).where(Order.reference == reference)
        ).scalar_one()
        legal_tasks.execute_order_to_act(session, runtime, {"order": order_id})
        assert session.get(Order, order_id).status == "acted"  # type: ignore[union-attr]


def _edit(client: TestClient, headers: dict[str, str], post_id: str, text: str) -> None:
    event = {
        "id": f"edit-{post_id}-{datetime.now(UTC).timestamp()}",
        "type": "post.edited",
        "occurred_at": datetime.now(UTC).isoformat(),
        "post_id": post_id,
        "entity_id": "ch-brigade",
        "author_user_id": "u-brigade-author",
        "text": text,
        "language": "fr",
    }
    response = client.post("/v1/ingest/events", json={"events": [event]}, headers=headers)
    assert response.status_code == 200, response.text


def _item(runtime: Runtime, ref: str) -> ModerationItem | None:
    with transaction(runtime.engine, readonly=True) as session:
        item = session.execute(
            sa.select(ModerationItem).where(ModerationItem.ref == ref)
        ).scalar_one_or_none()
        if item is not None:
            session.expunge(item)
        return item


@pytest.fixture
def unscanned(
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
) -> LegalWorld:
    """Content published, its first scan still queued."""
    legal = legal_world(client, make_token, platform_headers)
    seed_content(client, platform_headers)
    return legal


def test_content_ordered_down_before_its_first_scan_never_reaches_search(
    unscanned: LegalWorld, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    client = unscanned.client
    reference = _removal(unscanned)
    _act_now(runtime, reference)
    # The first scan runs after the order: it must not index what the order took down.
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    assert "p-recruit" in found(client, "quillon", "fr")
    item = _item(runtime, "p-propaganda")
    assert item is not None
    assert item.state == "removed"
    assert not item.pending_review
    # Nor an edit (a new text is judged again, but an order is not a judgement), nor a
    # re-ingest of the same state, nor a rescan.
    _edit(client, platform_headers, "p-propaganda", PROPAGANDA + " zorblax encore")
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    with transaction(runtime.engine) as session:
        moderation_tasks.enqueue_scan(session, entity_ids=["ch-brigade"], post_ids=["p-propaganda"])
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    item = _item(runtime, "p-propaganda")
    assert item is not None
    assert item.state == "removed"


def test_content_disabled_in_some_member_states_stays_out_of_search_after_an_edit(
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
) -> None:
    world = legal_world(client, make_token, platform_headers)
    seed_content(client, platform_headers)
    run_worker(runtime)
    assert "p-propaganda" in found(client, "zorblax", "fr")
    reference = _removal(world, territorial_scope=["FR", "BE"])
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    with transaction(runtime.engine, readonly=True) as session:
        assert (
            session.execute(
                sa.select(Order.status).where(Order.reference == reference)
            ).scalar_one()
            == "acted"
        )
    _edit(client, platform_headers, "p-propaganda", PROPAGANDA + " zorblax modifie")
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")


def test_a_channel_ordered_down_before_its_first_scan_stays_out_of_search(
    unscanned: LegalWorld, runtime: Runtime
) -> None:
    client = unscanned.client
    reference = _removal(unscanned, items=[{"url": f"{LINK}/brigade_zorblax"}])
    _act_now(runtime, reference)
    run_worker(runtime)
    assert "ch-brigade" not in found(client, "brigade", "fr")
    # Its posts go with it.
    assert found(client, "quillon", "fr") == set()
    assert found(client, "zorblax", "fr") == set()


def _audit(runtime: Runtime, action: str) -> list[dict[str, Any]]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(
            sa.select(AuditEntry.body).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        ).scalars()
        return [json.loads(b) for b in rows]


@pytest.fixture
def world(
    client: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
) -> LegalWorld:
    legal = legal_world(client, make_token, platform_headers)
    seed_content(client, platform_headers)
    run_worker(runtime)
    return legal


def _decision(item: ModerationItem, action: str) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "action": action,
        "category": "terrorism" if action != "no_violation" else "none",
        "explanation": "Context shows a news report quoting the text, not a call to act.",
        "version": item.version,
    }


@pytest.mark.parametrize("scope", [["EU"], ["FR"]])
def test_a_moderator_cannot_restore_what_an_order_took_down(
    world: LegalWorld,
    runtime: Runtime,
    make_token: Callable[..., str],
    scope: list[str],
) -> None:
    client = world.client
    _removal(world, territorial_scope=scope)
    run_worker(runtime)
    item = _item(runtime, "p-propaganda")
    assert item is not None
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    refused = client.post(
        "/v1/moderation/decisions", json=_decision(item, "no_violation"), headers=moderator
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "removed_by_order"
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    [trace] = _audit(runtime, "moderation.decision.refused")
    assert trace["target"] == "post:p-propaganda"
    assert trace["details"]["code"] == "removed_by_order"
    # Out of search only would lift a removal everywhere; where the order disabled the
    # item in some Member States only, it keeps the item out of search and is allowed.
    softer = client.post(
        "/v1/moderation/decisions", json=_decision(item, "remove_from_search"), headers=moderator
    )
    if scope == ["EU"]:
        assert softer.status_code == 409, softer.text
        assert softer.json()["error"]["code"] == "removed_by_order"
        after = _item(runtime, "p-propaganda")
        assert after is not None
        assert after.state == "removed"
    else:
        assert softer.status_code == 201, softer.text
    assert "p-propaganda" not in found(client, "zorblax", "fr")


def test_the_console_refuses_to_restore_what_an_order_took_down(
    world: LegalWorld, runtime: Runtime
) -> None:
    _removal(world)
    run_worker(runtime)
    item = _item(runtime, "p-propaganda")
    assert item is not None
    browser = TestClient(world.client.app, raise_server_exceptions=False)
    login = make_login(runtime, "mod-ordered", Role.MODERATOR, "mod-ordered-name")
    assert sign_in(browser, login).status_code == 303
    page = f"/console/moderation/items/{item.id}"
    answer = browser.post(
        f"{page}/decide",
        data={
            "csrf": csrf_of(browser, page),
            "action": "no_violation",
            "category": "none",
            "explanation": "Context shows a news report quoting the text.",
            "version": str(item.version),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 409, answer.text
    assert "order took this item down" in html.unescape(answer.text)
    assert "p-propaganda" not in found(world.client, "zorblax", "fr")
    assert len(_audit(runtime, "moderation.decision.refused")) == 1


_ = timedelta


def test_an_appeal_upheld_cannot_restore_what_an_order_took_down(
    world: LegalWorld, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    client = world.client
    item = _item(runtime, "p-propaganda")
    assert item is not None
    first = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    removed = client.post(
        "/v1/moderation/decisions", json=_decision(item, "remove_content"), headers=first
    )
    assert removed.status_code == 201, removed.text
    # Then an authority orders it removed; then the owner appeals the moderator's removal.
    _removal(world)
    run_worker(runtime)
    deliver(runtime)
    [statement] = [m for m in outbox(runtime) if m["type"] == "statement_of_reasons"]
    secret = statement["appeal_link"].split("#", 1)[1]
    appeal = client.post(
        "/v1/appeals", json={"secret": secret, "explanation": "It was a news report, not a call."}
    )
    assert appeal.status_code == 202, appeal.text
    run_worker(runtime)
    second = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    held = client.post(f"/v1/moderation/items/{item.id}/claim", headers=second)
    assert held.status_code == 200, held.text
    upheld = client.post(
        "/v1/moderation/decisions",
        json={**_decision(item, "no_violation"), "version": held.json()["version"]},
        headers=second,
    )
    assert upheld.status_code == 409, upheld.text
    assert upheld.json()["error"]["code"] == "removed_by_order"
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    after = _item(runtime, "p-propaganda")
    assert after is not None
    assert after.state == "removed"

"""DSA Art. 23(2) for internal complaints: a moderator or a legal reviewer marks a decided,
upheld complaint manifestly unfounded; after a configurable count within a window the
complainant is warned (told and audited); one more suspends the processing of their
complaints (403 submissions_suspended with the end date), audited with typed events and
counted in the DSA report. A raid never silences the channel it targets."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import LINK, deliver, notice, outbox, reports_world, run_worker
from legal_support import MovableClock
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.transparency import figures
from report_support import (
    OWNER,
    case_of,
    claim,
    item_id,
    moderator,
    owner_complaint,
    raid_from_one_network,
    suspend_channel,
)

world = reports_world


def _first_decision(world: TestClient, runtime: Runtime, staff: dict[str, str]) -> tuple[int, int]:
    sent = world.post(
        "/v1/reports",
        json=notice(
            target={"url": f"{LINK}/solidarite_littoral"},
            category="terrorism",
            explanation="This channel helps people cross the border illegally.",
        ),
    )
    assert sent.status_code == 202, sent.text
    run_worker(runtime)
    item = world.post("/v1/moderation/queue/claim", headers=staff).json()
    assert item["ref"] == "ch-solidarity"
    return int(item["id"]), suspend_channel(world, staff, int(item["id"]))


def _actions(runtime: Runtime) -> list[dict[str, Any]]:
    with transaction(runtime.engine, readonly=True) as session:
        bodies = session.execute(select(AuditEntry.body).order_by(AuditEntry.seq)).scalars()
        return [json.loads(b) for b in bodies]


def test_frequent_unfounded_complaints_warn_then_suspend_their_processing(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
) -> None:
    first, second = moderator(make_token), moderator(make_token)
    legal = {"Authorization": f"Bearer {make_token(Role.LEGAL)}"}
    item_id, decision = _first_decision(world, runtime, first)
    settings = runtime.settings
    rounds = settings.complainant_warn_after + 1
    deciders = [second, first]
    tracking = []
    for number in range(rounds):
        filed = owner_complaint(world, platform_headers, decision)
        assert filed.status_code == 202, filed.text
        tracking.append(filed.json()["tracking_id"])
        # Not before it is decided: only an upheld complaint can be manifestly unfounded.
        early = world.post(f"/v1/appeals/{tracking[-1]}/unfounded", headers=legal)
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "complaint_not_upheld"
        decision = suspend_channel(world, deciders[number % 2], item_id)  # upheld
        assert world.get(f"/v1/appeals/{tracking[-1]}").json()["outcome"] == "upheld"
        # The platform cannot mark it; a moderator or a legal reviewer can, once.
        assert (
            world.post(f"/v1/appeals/{tracking[-1]}/unfounded", headers=platform_headers)
        ).status_code == 403
        marked = world.post(
            f"/v1/appeals/{tracking[-1]}/unfounded", headers=legal if number % 2 else first
        )
        assert marked.status_code == 200, marked.text
        assert marked.json()["party"] == "owner"
        again = world.post(f"/v1/appeals/{tracking[-1]}/unfounded", headers=first)
        assert again.json()["error"]["code"] == "complaint_already_marked"

    refused = owner_complaint(world, platform_headers, decision)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "submissions_suspended"
    until = datetime.fromisoformat(error["until"])
    assert (until - datetime.now(UTC)).days in (
        settings.complainant_suspension_days - 1,
        settings.complainant_suspension_days,
    )
    assert until.date().isoformat() in error["message"]
    assert (
        world.post("/v1/appeals/unknown-appeal/unfounded", headers=first).json()["error"]["code"]
        == "appeal_not_found"
    )

    entries = _actions(runtime)
    measures = [e for e in entries if e["action"].startswith("reports.complainant_")]
    assert [e["action"] for e in measures] == [
        "reports.complainant_warning",
        "reports.complainant_suspended",
    ]
    assert {e["target"] for e in measures} == {f"user:{OWNER}"}
    assert measures[1]["details"]["until"] == error["until"]
    marked_entries = [e for e in entries if e["action"] == "reports.appeal.unfounded"]
    assert len(marked_entries) == rounds
    deliver(runtime)
    told = [m["type"] for m in outbox(runtime) if m.get("user_id") == OWNER]
    assert told.count("complainant_warning") == told.count("complainant_suspended") == 1
    assert told.index("complainant_warning") < told.index("complainant_suspended")

    log = figures.Log()
    for entry in entries:
        log.add(entry)
    article_23 = figures.dsa(log, figures.quarter_of(datetime.now(UTC)))["article_23"]
    assert article_23["suspensions"] == {
        "notices": 0,
        "complaints": 1,
        "manifestly_illegal_content": 0,
    }
    assert article_23["complainant_warning"] == 1


def test_a_reversed_complaint_is_never_unfounded(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
) -> None:
    first, second = moderator(make_token), moderator(make_token)
    item_id, decision = _first_decision(world, runtime, first)
    filed = owner_complaint(world, platform_headers, decision)
    assert filed.status_code == 202, filed.text
    claim(world, second, item_id)
    restored = world.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item_id,
            "action": "no_violation",
            "category": "terrorism",
            "explanation": "Humanitarian information, lawful.",
        },
        headers=second,
    )
    assert restored.status_code == 201, restored.text
    tracking = filed.json()["tracking_id"]
    refused = world.post(f"/v1/appeals/{tracking}/unfounded", headers=first)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "complaint_not_upheld"


def test_a_raid_cannot_silence_the_channel_it_targets(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    platform_headers: dict[str, str],
    moved: MovableClock,
) -> None:
    """A raid got the channel suspended and the decision upheld: the owner's complaint
    still cannot count towards suspending their complaints."""
    raid_from_one_network(world, random.Random(21), moved)
    run_worker(runtime)
    assert case_of(runtime, "ch-solidarity").raid_suspected
    first, second = moderator(make_token), moderator(make_token)
    item = item_id(world, first, "ch-solidarity")
    decision = suspend_channel(world, first, item)
    filed = owner_complaint(world, platform_headers, decision)
    assert filed.status_code == 202, filed.text
    suspend_channel(world, second, item)
    tracking = filed.json()["tracking_id"]
    assert world.get(f"/v1/appeals/{tracking}").json()["outcome"] == "upheld"
    refused = world.post(f"/v1/appeals/{tracking}/unfounded", headers=second)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "raid_target_protected"
    assert not [e for e in _actions(runtime) if e["action"] == "reports.appeal.unfounded"]

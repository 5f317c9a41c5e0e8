"""User reports under attack, through the API, playing the raider: appeals that cannot be
jammed, a rescan that cannot bury a trusted flagger's case, two moderators that cannot both
decide one item, "manifestly unfounded" that spares genuine reporters, and moderators
who see the evidence without seeing who reported."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import deliver, found, ingest, notice, outbox, reports_world, run_worker
from legal_support import MovableClock
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.reports.models import Appeal
from report_support import (
    SOLIDARITY,
    case_of,
    claim,
    decide,
    item_id,
    moderator,
    people,
    queue_refs,
    raid_from_one_network,
    varied,
    web,
)

# The solidarity channel and the scam, scanned (tests/factories.py).
world = reports_world


# -- appeals ---------------------------------------------------------------------------


def test_twelve_raiders_appealing_cannot_jam_the_item_nor_take_the_channel_down(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    rng = random.Random(1)
    ingest(
        world,
        platform_headers,
        people(
            "raider",
            12,
            age=(timedelta(hours=2), timedelta(hours=3)),
            connections=1,
            networks=2,
            rng=rng,
        ),
    )
    for i in range(12):
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"raider-{i}",
                target=SOLIDARITY,
                category="terrorism",
                explanation=varied(rng, i),
            ),
            headers=platform_headers,
        )
        assert sent.status_code == 202, sent.text
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    item = claim(world, first, item_id(world, first, "ch-solidarity"))
    assert item["ref"] == "ch-solidarity"
    kept = decide(world, first, item["id"], "no_violation")
    assert kept.status_code == 201, kept.text
    decision_id = kept.json()["id"]

    for i in range(12):
        appealed = world.post(
            "/v1/appeals",
            json={
                "decision_id": decision_id,
                "platform_user_id": f"raider-{i}",
                "explanation": "You must remove this terrorist channel now.",
            },
            headers=platform_headers,
        )
        assert appealed.status_code == 202, appealed.text
    twice = world.post(
        "/v1/appeals",
        json={
            "decision_id": decision_id,
            "platform_user_id": "raider-0",
            "explanation": "Again: remove this channel now.",
        },
        headers=platform_headers,
    )
    assert twice.json()["error"]["code"] == "appeal_exists"
    # The owner has nothing to appeal in a decision that kept his channel up.
    owner = world.post(
        "/v1/appeals",
        json={
            "decision_id": decision_id,
            "platform_user_id": "u-admin",
            "explanation": "We want to be heard too.",
        },
        headers=platform_headers,
    )
    assert (owner.status_code, owner.json()["error"]["code"]) == (409, "nothing_to_appeal")
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")

    # The first moderator cannot take the appeals; the second decides them all at once.
    assert decide(world, first, item["id"], "no_violation", version=0).status_code == 403
    taken = claim(world, second, item["id"])
    assert taken["queue_reason"] == "appeal"
    upheld = decide(world, second, item["id"], "no_violation")
    assert upheld.status_code == 201, upheld.text
    with transaction(runtime.engine) as session:
        outcomes = [(a.state, a.outcome) for a in session.execute(select(Appeal)).scalars()]
    assert outcomes == [("decided", "upheld")] * 12
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")
    # The outcome stands: nobody decides the item again without new facts.
    after = world.get(f"/v1/moderation/items/{item['id']}", headers=first).json()
    again = decide(world, first, item["id"], "suspend_entity", version=after["item"]["version"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "appeal_outcome_stands")


def test_the_owners_appeal_is_heard_and_a_reporter_cannot_jam_it(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    sent = world.post(
        "/v1/reports",
        json=notice(
            target=SOLIDARITY,
            category="terrorism",
            explanation="This channel helps people cross the border illegally.",
        ),
    )
    assert sent.status_code == 202
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    item = world.post("/v1/moderation/queue/claim", headers=first).json()
    assert decide(world, first, item["id"], "suspend_entity").status_code == 201
    deliver(runtime)
    messages = outbox(runtime)
    [statement] = [m for m in messages if m["type"] == "statement_of_reasons"]
    [told] = [m for m in messages if m["type"] == "report_decision"]
    owner_secret = statement["appeal_link"].split("#", 1)[1]
    reporter_secret = told["appeal_link"].split("#", 1)[1]

    owner = world.post(
        "/v1/appeals", json={"secret": owner_secret, "explanation": "We only publish meal times."}
    )
    assert owner.status_code == 202, owner.text
    # The reporter got what they asked for: there is nothing for them to appeal, and
    # before, their appeal made every later decision on the item answer 500.
    jam = world.post(
        "/v1/appeals", json={"secret": reporter_secret, "explanation": "Keep it down, I insist."}
    )
    assert (jam.status_code, jam.json()["error"]["code"]) == (409, "nothing_to_appeal")

    taken = world.post("/v1/moderation/queue/claim", headers=second).json()
    assert (taken["ref"], taken["queue_reason"]) == ("ch-solidarity", "appeal")
    assert decide(world, second, item["id"], "no_violation").status_code == 201
    status = world.get(f"/v1/appeals/{owner.json()['tracking_id']}").json()
    assert (status["state"], status["outcome"]) == ("decided", "reversed")
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")

    # Right after the reversal, the first moderator cannot take the removal again...
    view = world.get(f"/v1/moderation/items/{item['id']}", headers=first).json()
    refused = decide(world, first, item["id"], "suspend_entity", version=view["item"]["version"])
    assert refused.json()["error"]["code"] == "appeal_outcome_stands"
    assert (
        world.post(f"/v1/moderation/items/{item['id']}/claim", headers=first).json()["error"][
            "code"
        ]
        == "item_not_pending"
    )
    # ...unless they record new facts, which the audit keeps and the owner may appeal.
    reopened = decide(
        world,
        first,
        item["id"],
        "suspend_entity",
        version=view["item"]["version"],
        new_facts="The channel posted a smuggler's price list on 12 March.",
    )
    assert reopened.status_code == 201, reopened.text


# -- claims ----------------------------------------------------------------------------


def test_two_moderators_cannot_both_decide_one_item(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    assert world.post("/v1/reports", json=notice()).status_code == 202
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    [item] = [
        i
        for i in world.get("/v1/moderation/queue", headers=first).json()["items"]
        if i["ref"] == "p-scam"
    ]
    blind = decide(world, first, item["id"], "no_violation")
    assert (blind.status_code, blind.json()["error"]["code"]) == (409, "claim_required")
    one = decide(world, first, item["id"], "remove_content", version=item["version"])
    assert one.status_code == 201, one.text
    two = decide(world, second, item["id"], "no_violation", version=item["version"])
    assert (two.status_code, two.json()["error"]["code"]) == (409, "item_changed")
    history = world.get(f"/v1/moderation/items/{item['id']}", headers=second).json()["history"]
    assert [d["action"] for d in history][:1] == ["remove_content"]


# -- rescans ---------------------------------------------------------------------------


def test_a_rescan_does_not_bury_trusted_flagger_or_report_cases(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[..., str],
    cli: Callable[..., Any],
) -> None:
    from rempart.auth.permissions import Role

    flagger = {"Authorization": f"Bearer {make_token(Role.FLAGGER)}"}
    sent = world.post(
        "/v1/reports", json=notice(reporter=None, category="scams_fraud"), headers=flagger
    )
    assert sent.status_code == 202
    for i in range(3):
        world.post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"R {i}", "email": f"r{i}@example.org"},
                target={"kind": "post", "id": "p-weather"},
                category="terrorism",
                explanation="I think this post is propaganda for a violent group.",
            ),
        )
    run_worker(runtime)
    staff = moderator(make_token)
    before = {i["ref"]: i for i in world.get("/v1/moderation/queue", headers=staff).json()["items"]}
    assert before["p-scam"]["priority"] >= 1000
    assert cli("moderation", "rescan").exit_code == 0
    run_worker(runtime)
    after = {i["ref"]: i for i in world.get("/v1/moderation/queue", headers=staff).json()["items"]}
    assert after["p-scam"]["priority"] >= 1000, after["p-scam"]
    assert "trusted_flagger" in after["p-scam"]["reasons"]
    assert after["p-weather"]["reasons"].get("user_report") == before["p-weather"]["priority"]
    assert queue_refs(world, staff, reason="trusted_flagger") == ["p-scam"]
    assert queue_refs(world, staff, reason="user_report") == ["p-weather"]
    assert queue_refs(world, staff)[0] == "p-scam"


# -- evidence --------------------------------------------------------------------------


def test_moderators_see_notices_raid_signals_appeals_and_history_but_not_reporters(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    moved: MovableClock,
) -> None:
    rng = random.Random(3)
    raid_from_one_network(world, rng, moved)
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    item = claim(world, first, item_id(world, first, "ch-solidarity"))
    assert item["ref"] == "ch-solidarity"
    evidence = world.get(f"/v1/moderation/items/{item['id']}", headers=first)
    assert evidence.status_code == 200, evidence.text
    body = evidence.json()
    [case] = body["cases"]
    assert case["raid_suspected"]
    shares = sum(s["contribution"] for s in case["raid_signals"])
    assert abs(min(1.0, shares) - case["raid_score"]) < 0.01 or shares >= case["raid_score"]
    assert {s["name"] for s in case["raid_signals"]} >= {"shared_network", "near_identical"}
    assert len(case["notices"]) == 30
    one = case["notices"][0]
    assert one["explanation"].startswith("Cette chaîne")
    assert (one["reporter_kind"], one["category"], one["coordinated"]) == (
        "email",
        "terrorism",
        True,
    )
    assert one["credibility"] is not None
    assert "@x.example" not in evidence.text
    assert "P 1" not in evidence.text

    assert decide(world, first, item["id"], "remove_from_search").status_code == 201
    deliver(runtime)
    [statement] = [m for m in outbox(runtime) if m["type"] == "statement_of_reasons"]
    secret = statement["appeal_link"].split("#", 1)[1]
    why = "We publish meal times for exiled people; nothing here is terrorism."
    assert world.post("/v1/appeals", json={"secret": secret, "explanation": why}).status_code == 202
    seen = world.get(f"/v1/moderation/items/{item['id']}", headers=second).json()
    assert [a["explanation"] for a in seen["appeals"]] == [why]
    [decided] = seen["history"]
    assert decided["action"] == "remove_from_search"
    assert decided["decided_by"].startswith("moderator-")


def test_the_console_item_page_shows_the_evidence_and_decides_on_the_version_read(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str], moved: MovableClock
) -> None:
    from factories import make_login, sign_in
    from rempart.auth.permissions import Role

    raid_from_one_network(world, random.Random(4), moved)
    run_worker(runtime)
    staff = moderator(make_token)
    item = item_id(world, staff, "ch-solidarity")
    browser = web(world, "127.0.0.1")
    assert sign_in(browser, make_login(runtime, "mod17", Role.MODERATOR)).status_code == 303
    shown = browser.get(f"/console/moderation/items/{item}")
    assert shown.status_code == 200
    assert "fait l&#39;apologie du terrorisme" in shown.text
    assert 'id="raid-signals-' in shown.text
    assert "shared_network" in shown.text
    assert "@x.example" not in shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    version = re.search(r'name="version" value="(\d+)"', shown.text)
    assert csrf
    assert version
    # Someone decides first: the page's version is now stale, and the console says so.
    read = world.get(f"/v1/moderation/items/{item}", headers=staff).json()["item"]["version"]
    assert decide(world, staff, item, "no_violation", version=read).status_code == 201
    stale = browser.post(
        f"/console/moderation/items/{item}/decide",
        data={
            "csrf": csrf.group(1),
            "action": "remove_from_search",
            "category": "terrorism",
            "explanation": "Late decision.",
            "version": version.group(1),
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409


def test_manifestly_unfounded_reaches_the_raiders_not_the_genuine_reporters_beside_them(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    from rempart.reports.models import Reporter

    rng = random.Random(9)
    ingest(
        world,
        platform_headers,
        people(
            "raider",
            30,
            age=(timedelta(hours=1), timedelta(hours=2)),
            connections=1,
            networks=3,
            rng=rng,
        )
        + people(
            "member",
            3,
            age=(timedelta(days=300), timedelta(days=900)),
            connections=10,
            networks=3,
            rng=rng,
        ),
    )
    for user, text in [(f"raider-{i}", varied(rng, i)) for i in range(30)] + [
        ("member-0", "I was told this channel sends people across the border at night."),
        ("member-1", "A friend says they organise illegal crossings, please check."),
        ("member-2", "Ils semblent aider des passeurs, je préfère signaler."),
    ]:
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=user,
                target=SOLIDARITY,
                category="terrorism",
                explanation=text,
            ),
            headers=platform_headers,
        )
        assert sent.status_code == 202, sent.text
    run_worker(runtime)
    assert case_of(runtime, "ch-solidarity").raid_suspected
    staff = moderator(make_token)
    item = claim(world, staff, item_id(world, staff, "ch-solidarity"))
    kept = decide(world, staff, item["id"], "no_violation", reports_unfounded=True)
    assert kept.status_code == 201, kept.text
    with transaction(runtime.engine) as session:
        marked = {
            r.platform_user_id: r.unfounded for r in session.execute(select(Reporter)).scalars()
        }
    assert {u: n for u, n in marked.items() if u and u.startswith("member")} == {
        "member-0": 0,
        "member-1": 0,
        "member-2": 0,
    }
    assert all(n == 1 for u, n in marked.items() if u and u.startswith("raider"))


def test_a_claim_holds_the_item_for_its_holder_and_expires(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str], moved: MovableClock
) -> None:
    assert world.post("/v1/reports", json=notice()).status_code == 202
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    target = item_id(world, first, "p-scam")
    held = claim(world, first, target)
    taken = world.post(f"/v1/moderation/items/{target}/claim", headers=second)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "item_claimed")
    late = decide(world, second, target, "no_violation", version=held["version"])
    assert late.json()["error"]["code"] == "item_claimed"
    moved.offset = timedelta(minutes=16)
    assert claim(world, second, target)["claimed_by"].startswith("moderator-")
    gone = decide(world, first, target, "remove_content")
    assert (gone.status_code, gone.json()["error"]["code"]) == (409, "item_claimed")
    assert decide(world, second, target, "remove_content").status_code == 201

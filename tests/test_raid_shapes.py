"""Raids of every shape through the API (the public web form without accounts, sleeper
accounts, slow raids over hours with varied texts), genuine bursts that must not be taken
for one (a new community, one carrier's shared address), and an owner who tries to shield
his own post with sock puppets."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from legal_support import MovableClock
from rempart.core.deps import Runtime
from report_support import (
    case_of,
    claim,
    genuine_text,
    genuine_web_reports,
    people,
    raid_by_sleepers,
    raid_from_one_network,
    raid_through_web_form,
    slow_raid,
    web,
)
from test_moderation import found, run_worker
from test_reports import (
    ingest,
    moderator,
    notice,
    platform_world,
    queue_refs,
)


@pytest.fixture
def world(client: TestClient, runtime: Runtime, platform_headers: dict[str, str]) -> TestClient:
    platform_world(client, platform_headers)
    run_worker(runtime)
    return client


@pytest.mark.parametrize("shape", ["web_form", "one_network", "sleepers", "slow"])
def test_raids_of_every_shape_are_marked_and_ranked_below_genuine_reports(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    moved: MovableClock,
    shape: str,
) -> None:
    rng = random.Random(shape)
    genuine_web_reports(world, rng, 15)
    if shape == "web_form":
        raid_through_web_form(world, rng, moved)
    elif shape == "one_network":
        raid_from_one_network(world, rng, moved)
    elif shape == "sleepers":
        raid_by_sleepers(world, runtime, rng, platform_headers)
    else:
        slow_raid(world, runtime, rng, platform_headers, moved)
    run_worker(runtime)
    raid, genuine = case_of(runtime, "ch-solidarity"), case_of(runtime, "p-scam")
    assert raid.raid_suspected, raid.raid_signals
    assert not genuine.raid_suspected, genuine.raid_signals
    staff = moderator(make_token)
    order = queue_refs(world, staff, source="reports")
    assert order.index("p-scam") < order.index("ch-solidarity")
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")


@pytest.mark.parametrize("shape", ["new_community", "shared_carrier_network"])
def test_a_genuine_burst_is_not_taken_for_a_raid(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    shape: str,
) -> None:
    rng = random.Random(shape)
    if shape == "new_community":
        # 100 people whose accounts are 1 to 6 days old, in daily use, each at home.
        ingest(
            world,
            platform_headers,
            people(
                "newcomer",
                100,
                age=(timedelta(days=1), timedelta(days=6)),
                connections=12,
                networks=100,
                rng=rng,
            ),
        )
        for i in range(100):
            sent = world.post(
                "/v1/reports",
                json=notice(
                    reporter=None,
                    platform_user_id=f"newcomer-{i}",
                    explanation=genuine_text(rng, i),
                ),
                headers=platform_headers,
            )
            assert sent.status_code == 202, sent.text
    else:
        # 25 people behind one mobile carrier's shared address block, within minutes.
        for i in range(25):
            sent = web(world, f"192.0.2.{i + 1}").post(
                "/v1/reports",
                json=notice(
                    reporter={
                        "name": f"Person {i}",
                        "email": f"person.{rng.randrange(10**5)}"
                        f"@{rng.choice(['example.org', 'example.net', 'mail.example'])}",
                    },
                    explanation=genuine_text(rng, i),
                ),
            )
            assert sent.status_code == 202, sent.text
    run_worker(runtime)
    case = case_of(runtime, "p-scam")
    assert not case.raid_suspected, (case.raid_score, case.raid_signals)


def test_an_owner_cannot_shield_his_post_with_sock_puppets_and_genuine_reporters_are_spared(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    rng = random.Random(7)
    ingest(
        world,
        platform_headers,
        people(
            "puppet",
            100,
            age=(timedelta(hours=1), timedelta(hours=2)),
            connections=1,
            networks=2,
            rng=rng,
        )
        + people(
            "member",
            15,
            age=(timedelta(days=200), timedelta(days=900)),
            connections=10,
            networks=15,
            rng=rng,
        ),
    )
    for i in range(100):
        world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"puppet-{i}",
                category="scams_fraud",
                explanation="Scam scam scam, delete this post please now.",
            ),
            headers=platform_headers,
        )
    for i in range(15):
        world.post(
            "/v1/reports",
            json=notice(
                reporter=None, platform_user_id=f"member-{i}", explanation=genuine_text(rng, i)
            ),
            headers=platform_headers,
        )
    run_worker(runtime)
    case = case_of(runtime, "p-scam")
    staff = moderator(make_token)
    # Whatever the mark, the fifteen credible members keep the case's weight.
    assert case.credible_reporters >= 10
    order = queue_refs(world, staff, source="reports")
    assert order[0] == "p-scam"
    item = claim(
        world, staff, world.get("/v1/moderation/queue", headers=staff).json()["items"][0]["id"]
    )
    evidence = world.get(f"/v1/moderation/items/{item['id']}", headers=staff).json()
    spared = [n for n in evidence["cases"][0]["notices"] if not n["coordinated"]]
    assert len(spared) >= 15

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
from sqlalchemy import select

from factories import found, ingest, notice, reports_world, run_worker
from legal_support import MovableClock
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation.models import ModerationItem
from report_support import (
    SOLIDARITY,
    case_of,
    claim,
    genuine_text,
    genuine_web_reports,
    moderator,
    people,
    queue_refs,
    raid_by_sleepers,
    raid_from_one_network,
    raid_through_web_form,
    slow_raid,
    varied,
    web,
)

# The solidarity channel and the scam, scanned (tests/factories.py).
world = reports_world


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


# -- pace and target: a raid whose people write their own addresses and words ----------

FIRST_NAMES = ["camille", "n.diallo", "jb", "maxime.leroy", "sofia_r", "t.nguyen", "ana", "mo"]
DOMAINS = ["example.org", "example.net", "example.com", "mail.example", "poste.example"]
WEATHER = {"kind": "post", "id": "p-weather"}
SEEN = [
    "the photo in this post shows my neighbour's front door and street number",
    "on voit l'adresse d'une journaliste sur la photo, avec son nom",
    "this picture gives a teacher's home address after the news story",
    "la photo montre la plaque de rue et la maison d'une victime",
    "they posted where the witness lives, the house is recognisable",
    "c'est l'immeuble de ma collègue, on lit le numéro sur la porte",
]
OWN_WORDS = [
    "a friend sent it to me this morning",
    "je l'ai vu dans un groupe du quartier",
    "people in the comments say they will go there",
    "des gens proposent d'aller sonner chez elle",
    "I know the family",
    "ça circule depuis hier soir",
    "my daughter's school shared it",
    "personne ne fait rien",
]


WHEN = ["since yesterday", "ce matin", "at lunch", "hier soir", "an hour ago", "cette nuit"]
WHERE = ["in my feed", "sur WhatsApp", "in two groups", "dans le canal du lycée", "on my phone"]


def own_words(rng: random.Random) -> str:
    """What a person writes: what they saw, something of their own, when and where."""
    return (
        f"{rng.choice(SEEN)}; {rng.choice(OWN_WORDS)}, {rng.choice(WHEN)} "
        f"{rng.choice(WHERE)}. {rng.choice(['', 'please', 'svp', 'thanks'])}"
    )


def human_email(rng: random.Random, i: int) -> str:
    return f"{rng.choice(FIRST_NAMES)}{rng.choice(['', str(i), '.pro'])}@{rng.choice(DOMAINS)}"


def genuine_small_case(
    world: TestClient, runtime: Runtime, headers: dict[str, str], rng: random.Random
) -> None:
    """Two people of long standing report a post celebrating an attack: the kind of case a
    raid on the same severity must never outrank."""
    ingest(
        world,
        headers,
        [
            *people(
                "witness",
                2,
                age=(timedelta(days=300), timedelta(days=900)),
                connections=10,
                networks=2,
                rng=rng,
            ),
            {
                "id": "p-4",
                "type": "post.published",
                "occurred_at": "2026-01-05T10:00:00+00:00",
                "post_id": "p-attack",
                "entity_id": "ch-market",
                "text": "La vidéo d'hier, regardez jusqu'au bout.",
                "language": "fr",
            },
        ],
    )
    run_worker(runtime)
    for i in range(2):
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"witness-{i}",
                target={"kind": "post", "id": "p-attack"},
                category="terrorism",
                explanation="This video celebrates yesterday's attack, with the victims' faces.",
            ),
            headers=headers,
        )
        assert sent.status_code == 202, sent.text


def test_a_form_raid_with_human_addresses_and_own_words_is_caught_by_its_pace_and_target(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    moved: MovableClock,
) -> None:
    """100 notices through the public form from ten networks, each with an address and a
    text of its own, sent at an even pace over an hour against a channel the machines
    found clean: no script and no account to go by, yet a raid."""
    rng = random.Random(17)
    genuine_small_case(world, runtime, platform_headers, rng)
    for i in range(100):
        moved.offset = timedelta(seconds=36 * i)
        sent = web(world, f"2001:db8:{0x300 + i % 10:x}::{rng.randrange(1, 999):x}").post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"Person {i}", "email": human_email(rng, i)},
                target=SOLIDARITY,
                category="terrorism",
                explanation=varied(rng, i),
            ),
        )
        assert sent.status_code == 202, sent.text
        if i % 25 == 24:
            run_worker(runtime)
    run_worker(runtime)
    raid = case_of(runtime, "ch-solidarity")
    assert raid.raid_suspected, (raid.raid_score, raid.raid_signals)
    assert raid.raid_signals["steady_pace"] > 0.5
    assert raid.raid_signals["unsupported_claims"] == 1.0
    assert raid.raid_signals["crowded_networks"] > 0.5
    assert raid.raid_signals.get("scripted_emails", 0.0) == 0.0
    # A hundred people nobody vouches for do not outrank two of long standing.
    order = queue_refs(world, moderator(make_token), source="reports")
    assert order.index("p-attack") < order.index("ch-solidarity")


def test_the_same_form_raid_on_a_post_the_classifier_flags_is_not_taken_for_a_raid(
    world: TestClient, runtime: Runtime, moved: MovableClock
) -> None:
    """When the machines agree with the notices, the burst is much more likely genuine."""
    rng = random.Random(18)
    for i in range(100):
        moved.offset = timedelta(seconds=36 * i)
        sent = web(world, f"2001:db8:{0x300 + i % 10:x}::{rng.randrange(1, 999):x}").post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"Person {i}", "email": human_email(rng, i)},
                explanation=genuine_text(rng, i),
            ),
        )
        assert sent.status_code == 202, sent.text
    run_worker(runtime)
    case = case_of(runtime, "p-scam")
    assert case.raid_signals["target_factor"] < 1.0
    assert not case.raid_suspected, (case.raid_score, case.raid_signals)


@pytest.mark.parametrize("doubt", ["spam", "terrorism"])
def test_a_machine_doubt_is_no_finding_and_a_doubt_about_another_category_no_support(
    world: TestClient, runtime: Runtime, moved: MovableClock, doubt: str
) -> None:
    """The review band is set for recall: a lawful channel the classifier merely hesitates
    over gets no shield from raiders who claim terrorism, and a doubt about spam does not
    support their claim; one about terrorism does."""
    with transaction(runtime.engine) as session:
        item = session.execute(
            select(ModerationItem).where(ModerationItem.ref == "ch-solidarity")
        ).scalar_one()
        item.signals = [{"source": "classifier", "category": doubt, "score": 0.3}]
        item.queue_reasons = {"auto_review": 1.0}
        item.pending_review = True
    raid_from_one_network(world, random.Random(21), moved)
    run_worker(runtime)
    raid = case_of(runtime, "ch-solidarity")
    assert raid.raid_signals["target_factor"] == 1.0
    assert raid.raid_signals["unsupported_claims"] == (1.0 if doubt == "spam" else 0.0)
    assert raid.raid_suspected, (raid.raid_score, raid.raid_signals)


@pytest.mark.parametrize("shape", ["steady_trickle", "carrier_address", "new_community"])
def test_genuine_severe_outrage_at_what_the_classifier_misses_is_not_taken_for_a_raid(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    moved: MovableClock,
    shape: str,
) -> None:
    """People report a home address shown in a photo the classifier cannot read: a severe
    claim against an item that scanned clean, from people nobody vouches for yet, which a
    naive reading of the target would take for a raid. Through the form at an even pace
    over six hours (a post that keeps circulating), 25 people behind one carrier's shared
    address within minutes, or a new community of accounts days old."""
    rng = random.Random(shape)
    if shape == "new_community":
        ingest(
            world,
            platform_headers,
            people(
                "newcomer",
                80,
                age=(timedelta(days=1), timedelta(days=6)),
                connections=12,
                networks=80,
                rng=rng,
            ),
        )
    count = {"steady_trickle": 60, "carrier_address": 25, "new_community": 80}[shape]
    # A wave that fades: most in the first hour, fewer and fewer after.
    wave = sorted(timedelta(minutes=rng.expovariate(1 / 40)) for _ in range(count))
    for i in range(count):
        body = notice(
            target=WEATHER,
            category="doxxing",
            explanation=own_words(rng),
        )
        if shape == "steady_trickle":
            moved.offset = timedelta(minutes=6 * i)
            body["reporter"] = {"name": f"Person {i}", "email": human_email(rng, i)}
            sent = web(world, f"2001:db8:{0x400 + i:x}::{rng.randrange(1, 999):x}").post(
                "/v1/reports", json=body
            )
        elif shape == "carrier_address":
            moved.offset = timedelta(seconds=20 * i)
            body["reporter"] = {"name": f"Person {i}", "email": human_email(rng, i)}
            sent = web(world, f"192.0.2.{i + 1}").post("/v1/reports", json=body)
        else:
            moved.offset = wave[i]
            body["reporter"] = None
            body["platform_user_id"] = f"newcomer-{i}"
            sent = world.post("/v1/reports", json=body, headers=platform_headers)
        assert sent.status_code == 202, sent.text
        if i % 20 == 19:
            run_worker(runtime)
    run_worker(runtime)
    case = case_of(runtime, "p-weather")
    # What would fool a naive reading: severe, scanned clean, nobody vouches for them.
    assert case.raid_signals["unsupported_claims"] == 1.0
    assert not case.raid_suspected, (case.raid_score, case.raid_signals)


def test_reports_of_new_abuse_material_are_never_unsupported_for_want_of_a_hash_match(
    world: TestClient, runtime: Runtime, moved: MovableClock
) -> None:
    """New child abuse material is in no hash bank: the machines' silence about it is no
    reason to doubt the people reporting it, anonymously and at an even pace."""
    rng = random.Random(19)
    for i in range(40):
        moved.offset = timedelta(minutes=5 * i)
        sent = web(world, f"2001:db8:{0x500 + i:x}::{rng.randrange(1, 999):x}").post(
            "/v1/reports",
            json=notice(
                target=WEATHER,
                category="csam_indicators",
                reporter=None,
                explanation=f"the photo shows a child being abused; {own_words(rng)}",
            ),
        )
        assert sent.status_code == 202, sent.text
    run_worker(runtime)
    case = case_of(runtime, "p-weather")
    assert case.raid_signals["unsupported_claims"] == 0.0
    assert not case.raid_suspected, (case.raid_score, case.raid_signals)

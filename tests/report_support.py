"""What the reports tests share: generated people and texts, the public form seen from
any address, raid scenarios, and moderators' moves through the API."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import event as _event
from factories import ingest, notice, run_worker
from legal_support import MovableClock
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.reports.models import ReportCase

NOW = datetime.now(UTC)
SOLIDARITY = {"kind": "entity", "id": "ch-solidarity"}
SCAM = {"kind": "post", "id": "p-scam"}


def people(
    prefix: str,
    count: int,
    *,
    age: tuple[timedelta, timedelta],
    connections: int,
    networks: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Accounts aged between ``age``, each seen ``connections`` times lately from one of
    ``networks`` /24 blocks (one each when ``networks`` equals ``count``)."""
    events = []
    for i in range(count):
        user = f"{prefix}-{i}"
        created = NOW - age[0] - (age[1] - age[0]) * rng.random()
        events.append(_event(f"reg-{user}", "account.registered", created, user_id=user))
        block = i % networks
        for k in range(connections):
            seen = max(created + timedelta(minutes=5 + k), NOW - timedelta(days=k % 80 + 1))
            events.append(
                _event(
                    f"con-{user}-{k}",
                    "connection.seen",
                    seen,
                    user_id=user,
                    # One /48 (what a network's keyed hash covers) per block.
                    ip=f"2001:db8:{block:x}::{k + 1:x}",
                )
            )
    return events


OPENINGS = [
    "This channel",
    "Cette chaîne",
    "The people behind this",
    "Ce compte",
    "Honestly this group",
    "Les admins ici",
]
CLAIMS = [
    "glorifies terrorism",
    "fait l'apologie du terrorisme",
    "helps smugglers and violent groups",
    "encourage la violence contre la police",
    "spreads extremist propaganda",
    "relaie de la propagande djihadiste",
]
ENDINGS = [
    "please act now.",
    "il faut la fermer.",
    "I am shocked.",
    "c'est inadmissible.",
    "report it to the authorities.",
    "merci de supprimer.",
]


def varied(rng: random.Random, i: int) -> str:
    """Varied texts, as a raid coordinated in a chat room writes them."""
    return f"{rng.choice(OPENINGS)} {rng.choice(CLAIMS)}, {rng.choice(ENDINGS)} #{i}"


def genuine_text(rng: random.Random, i: int) -> str:
    topic = rng.choice(
        [
            "they asked my mother for a 50 euro registration fee and vanished",
            "offre d'emploi bidon, on m'a demandé des frais avant de commencer",
            "the 'job' needs you to pay first, classic advance fee scam",
            "mon voisin a payé l'inscription, jamais revu son argent",
            "fake recruiter, the company does not exist on any register",
            "escroquerie : ils promettent 500 € par jour contre un dépôt",
            "they keep reposting this with new accounts after people complain",
        ]
    )
    return f"{topic} (seen on day {i % 7 + 1}, message {rng.randrange(10**6)})"


def web(client: TestClient, host: str) -> TestClient:
    """The public web form, seen from ``host``."""
    return TestClient(client.app, client=(host, 40000), raise_server_exceptions=False)


def moderator(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}


def queue_refs(client: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    page = client.get("/v1/moderation/queue", params={"limit": 100, **params}, headers=headers)
    assert page.status_code == 200, page.text
    return [item["ref"] for item in page.json()["items"]]


def case_of(runtime: Runtime, ref: str) -> ReportCase:
    with transaction(runtime.engine) as session:
        return (
            session.execute(
                select(ReportCase)
                .where(ReportCase.target_ref == ref)
                .order_by(ReportCase.id.desc())
            )
            .scalars()
            .first()
        )  # type: ignore[return-value]


def item_id(client: TestClient, headers: dict[str, str], ref: str) -> int:
    page = client.get("/v1/moderation/queue?limit=100", headers=headers).json()
    return int(next(i["id"] for i in page["items"] if i["ref"] == ref))


def claim(client: TestClient, headers: dict[str, str], item_id: int) -> dict[str, Any]:
    response = client.post(f"/v1/moderation/items/{item_id}/claim", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def decide(
    client: TestClient, headers: dict[str, str], item_id: int, action: str, **extra: Any
) -> Any:
    return client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item_id,
            "action": action,
            "category": "terrorism",
            "explanation": f"Decided: {action}.",
            **extra,
        },
        headers=headers,
    )


def genuine_web_reports(world: TestClient, rng: random.Random, count: int) -> None:
    """``count`` people from their own networks, reporting the scam in their own words."""
    names = [
        "camille",
        "n.diallo",
        "jb",
        "maxime.leroy",
        "sofia_r",
        "t.nguyen",
        "ana",
        "pierre-louis",
        "k.benali",
        "mo",
        "lea.martin",
        "yuki",
        "olga.p",
        "sam",
        "ines",
    ]
    domains = ["example.org", "example.net", "example.com", "mail.example", "poste.example"]
    for i in range(count):
        email = f"{names[i % len(names)]}{rng.choice(['', str(i), '.pro'])}@{rng.choice(domains)}"
        sent = web(world, f"2001:db8:{0x200 + i:x}::{rng.randrange(1, 999):x}").post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"Person {i}", "email": email}, explanation=genuine_text(rng, i)
            ),
        )
        assert sent.status_code == 202, sent.text


def raid_through_web_form(world: TestClient, rng: random.Random, moved: MovableClock) -> None:
    """120 notices through the public form, 6 /48 blocks, a script's addresses, 3 texts."""
    texts = [varied(rng, 0), varied(rng, 1), varied(rng, 2)]
    for i in range(120):
        sent = web(world, f"2001:db8:{0x100 + i % 6:x}::{i // 6 + 1:x}").post(
            "/v1/reports",
            json=notice(
                reporter={
                    "name": "Jean Martin",
                    "email": f"jmartin{rng.randrange(1000, 9999)}@throwaway.example",
                },
                target=SOLIDARITY,
                category="terrorism",
                explanation=texts[i % 3],
            ),
        )
        assert sent.status_code == 202, sent.text


def raid_from_one_network(world: TestClient, rng: random.Random, moved: MovableClock) -> None:
    """30 identical notices from one /24, each with its own made-up person."""
    for i in range(30):
        sent = web(world, f"198.51.100.{i + 1}").post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"P {i}", "email": f"{rng.choice(['a', 'b', 'c'])}{i}@x.example"},
                target=SOLIDARITY,
                category="terrorism",
                explanation="Cette chaîne fait l'apologie du terrorisme, fermez-la.",
            ),
        )
        assert sent.status_code == 202, sent.text


def raid_by_sleepers(
    world: TestClient, runtime: Runtime, rng: random.Random, headers: dict[str, str]
) -> None:
    """60 accounts 10 to 60 days old, each on its own network, barely used, varied texts."""
    ingest(
        world,
        headers,
        people(
            "sleeper",
            60,
            age=(timedelta(days=10), timedelta(days=60)),
            connections=2,
            networks=60,
            rng=rng,
        ),
    )
    for i in range(60):
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"sleeper-{i}",
                target=SOLIDARITY,
                category="terrorism",
                explanation=varied(rng, i),
            ),
            headers=headers,
        )
        assert sent.status_code == 202, sent.text


def slow_raid(
    world: TestClient,
    runtime: Runtime,
    rng: random.Random,
    headers: dict[str, str],
    moved: MovableClock,
) -> None:
    """120 fresh accounts on 120 networks, over six hours, varied texts."""
    ingest(
        world,
        headers,
        people(
            "slow",
            120,
            age=(timedelta(hours=7), timedelta(days=3)),
            connections=1,
            networks=120,
            rng=rng,
        ),
    )
    for i in range(120):
        moved.offset = timedelta(minutes=3 * i)
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"slow-{i}",
                target=SOLIDARITY,
                category="terrorism",
                explanation=varied(rng, i),
            ),
            headers=headers,
        )
        assert sent.status_code == 202, sent.text
        if i % 40 == 39:
            run_worker(runtime)


# -- complaints (DSA Art. 20) and Art. 23(2) ---------------------------------------------

OWNER = "u-admin"  # owns the solidarity channel (tests/factories.py)


def suspend_channel(client: TestClient, staff: dict[str, str], item_id: int) -> int:
    """A moderator claims the item and suspends it; the decision's id."""
    claim(client, staff, item_id)
    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item_id,
            "action": "suspend_entity",
            "category": "terrorism",
            "explanation": "Suspended: it helps people cross the border illegally.",
        },
        headers=staff,
    )
    assert decided.status_code == 201, decided.text
    return int(decided.json()["id"])


def owner_complaint(client: TestClient, platform: dict[str, str], decision: int) -> Any:
    """The channel's owner complains about a decision, through the platform."""
    return client.post(
        "/v1/appeals",
        json={
            "decision_id": decision,
            "platform_user_id": OWNER,
            "explanation": "We relay meal times and legal aid; nothing here is illegal.",
        },
        headers=platform,
    )

"""What many test modules build the same way, defined once: platform events and their
ingest, the worker run until idle, search, the public platforms that moderation and
reports tests start from, notices, console sign-ins; and the fixtures built from them
(registered by conftest.py). A module gives the name ``world`` to the world it starts
from with one line, ``world = legal_world`` or ``world = reports_world``."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

import legal_support
from legal_support import LegalWorld
from rempart.auth import service as auth_service
from rempart.auth import signin as auth
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import tasks as moderation_tasks
from rempart.platform.media import hash_image
from rempart.reports import tasks as reports_tasks
from rempart.worker import Worker

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)
# Links to public posts and channels start with this (the default `public_link_base`).
LINK = "https://t.example"
# Ingest takes up to this many events per request.
INGEST_BATCH = 5000


# -- platform events -------------------------------------------------------------------


def event(
    event_id: str, event_type: str, at: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    """A platform event as `POST /v1/ingest/events` takes it, ``at`` an hour ago unless said."""
    occurred = AN_HOUR_AGO if at is None else at
    return {"id": event_id, "type": event_type, "occurred_at": occurred.isoformat(), **fields}


def ingest(client: TestClient, headers: dict[str, str], events: list[dict[str, Any]]) -> int:
    """Ingest ``events`` in batches the API takes, each accepted; how many were new."""
    stored = 0
    for start in range(0, len(events), INGEST_BATCH):
        response = client.post(
            "/v1/ingest/events",
            json={"events": events[start : start + INGEST_BATCH]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        stored += int(response.json()["stored"])
    return stored


def run_worker(runtime: Runtime) -> None:
    """The worker, in this process, until it has nothing left to do."""
    worker = Worker(runtime)
    while worker.tick():
        pass


def found(client: TestClient, query: str, lang: str = "en") -> set[str]:
    response = client.get("/v1/search", params={"q": query, "lang": lang, "limit": 100})
    assert response.status_code == 200, response.text
    return {hit["ref"] for hit in response.json()["items"]}


# -- a market and a news channel: offers that break the law, and look-alikes ----------

VIOLATING = {
    "p-drug-fr": "🌿 Beuh dispo sur Lyon, qualité top, 10 € le g. DM @vert_lyon",
    "p-drug-en": "Fast delivery coke and MDMA in Leeds and around, discreet. Contact @fastline",
    "p-weapon-fr": "Vends Glock 17, sans papiers, 900 €. Sérieux uniquement, MP @armurerie",
    "p-weapon-en": "Selling AK-47, no paperwork, 2500. Serious buyers only, DM @ironman",
    "p-piracy-fr": "🔴 DIRECT Olympique Fictif - FC Exemple en HD gratuit ici : https://stream.example",
    "p-piracy-en": "All weekend games streamed free, link: https://free-games.example",
}
LOOKALIKES = {
    "p-look-drug-fr": "Opération de police hier soir à Lyon, un point de deal de beuh démantelé.",
    "p-look-drug-en": "Police raid in Leeds: officers seized coke and shut down a dealing spot.",
    "p-look-weapon-fr": "Rappel : détenir un pistolet exige un permis, informe la préfecture.",
    "p-look-piracy-en": "Where to watch the match legally? On the official app, no free stream.",
    "p-plain": "Recette du gratin dauphinois de ma grand-mère, avec beaucoup de crème.",
}


def publish_market_and_news(client: TestClient, headers: dict[str, str]) -> None:
    events = [
        event(
            "e-market",
            "entity.published",
            entity_id="ch-market",
            kind="channel",
            title="Bons plans Lyon",
            owner_user_id="u-owner",
            member_count=1200,
        ),
        event(
            "e-news",
            "entity.published",
            entity_id="ch-news",
            kind="channel",
            title="Actualités locales",
            owner_user_id="u-journalist",
            member_count=54000,
        ),
    ]
    for ref, text in VIOLATING.items():
        events.append(
            event(
                f"ev-{ref}",
                "post.published",
                post_id=ref,
                entity_id="ch-market",
                text=text,
                language=ref[-2:],
            )
        )
    for ref, text in LOOKALIKES.items():
        events.append(
            event(
                f"ev-{ref}",
                "post.published",
                post_id=ref,
                entity_id="ch-news",
                text=text,
                language="fr" if ref.endswith("fr") or ref == "p-plain" else "en",
            )
        )
    ingest(client, headers, events)


@pytest.fixture
def scanned(client: TestClient, runtime: Runtime, platform_headers: dict[str, str]) -> TestClient:
    """The market and the news channel, scanned by the worker."""
    publish_market_and_news(client, platform_headers)
    # Nothing is searchable before moderation has scanned it.
    assert found(client, "lyon") == set()
    run_worker(runtime)
    return client


# -- a lawful solidarity channel and a scam: what notices are about -------------------


def platform_world(client: TestClient, headers: dict[str, str]) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    ingest(
        client,
        headers,
        [
            event(
                "e-solidarity",
                "entity.published",
                old,
                entity_id="ch-solidarity",
                kind="channel",
                username="solidarite_littoral",
                title="Solidarité Littoral",
                description="Informations pratiques pour les personnes exilées : repas, "
                "douches, permanences juridiques.",
                owner_user_id="u-admin",
                member_count=8000,
            ),
            event(
                "e-market",
                "entity.published",
                old,
                entity_id="ch-market",
                kind="channel",
                username="bons_plans",
                title="Bons plans",
                owner_user_id="u-seller",
                member_count=300,
            ),
            event(
                "p-1",
                "post.published",
                old,
                post_id="p-meals",
                entity_id="ch-solidarity",
                text="Distribution de repas ce soir à 19 h, quai de la Loire.",
                language="fr",
            ),
            event(
                "p-2",
                "post.published",
                old,
                post_id="p-scam",
                entity_id="ch-market",
                text="Gagnez 500 € par jour depuis chez vous, envoyez 50 € de frais d'inscription",
                language="fr",
            ),
            event(
                "p-3",
                "post.published",
                old,
                post_id="p-weather",
                entity_id="ch-market",
                text="Il pleut encore sur la côte ce week-end.",
                language="fr",
            ),
        ],
    )


def notice(**overrides: Any) -> dict[str, Any]:
    """A notice about the scam, as a person sends it; ``overrides`` replace its fields."""
    body: dict[str, Any] = {
        "target": {"url": f"{LINK}/bons_plans/p-scam"},
        "category": "scams_fraud",
        "explanation": "This post asks for registration fees for a fake job: a classic scam.",
        "reporter": {"name": "Camille Exemple", "email": "camille@example.org"},
        "good_faith": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def reports_world(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> TestClient:
    """The solidarity channel and the scam, scanned: what the notices' tests start from."""
    platform_world(client, platform_headers)
    run_worker(runtime)
    return client


def deliver(runtime: Runtime) -> None:
    """What the worker sends every few seconds: statements of reasons and notices."""
    run_worker(runtime)
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)
        reports_tasks.deliver(session, runtime)


def outbox(runtime: Runtime) -> list[dict[str, Any]]:
    path: Path = runtime.settings.notification_outbox
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- lawful disclosure ---------------------------------------------------------------


@pytest.fixture
def legal_world(
    client: TestClient, make_token: Callable[..., str], platform_headers: dict[str, str]
) -> LegalWorld:
    """A suspect with connections, a verified court, two legal reviewers and two admins."""
    return legal_support.legal_world(client, make_token, platform_headers)


# -- known media ----------------------------------------------------------------------

KNOWN_PICTURE = (FIXTURES / "pdq" / "bridge-1-original.jpg").read_bytes()


def publish_known_image(
    client: TestClient,
    runtime: Runtime,
    headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A hash bank holding a picture, then a post showing it."""
    bank = tmp_path / "bank.csv"
    bank.write_text(f"hash,algorithm,category\n{hash_image(KNOWN_PICTURE).pdq},pdq,terrorism\n")
    assert cli("banks", "import", str(bank), "--bank", "gifct-like").exit_code == 0
    events = [
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-pics",
            kind="channel",
            title="Photos",
            owner_user_id="u-owner",
            member_count=10,
        ),
        event(
            "e-p",
            "post.published",
            post_id="p-pic",
            entity_id="ch-pics",
            text="Une photo du pont",
            language="fr",
            media=[{"image_base64": base64.b64encode(KNOWN_PICTURE).decode()}],
        ),
        event(
            "e-q",
            "post.published",
            post_id="p-glock",
            entity_id="ch-pics",
            text="Selling a Glock, no paperwork, DM me",
            language="en",
        ),
    ]
    ingest(client, headers, events)
    run_worker(runtime)


# -- the console ----------------------------------------------------------------------


def make_login(
    runtime: Runtime, username: str, role: Role, principal_name: str | None = None
) -> auth.NewLogin:
    with transaction(runtime.engine) as session:
        principal = auth_service.ensure_principal(
            session, role=role, name=principal_name or f"web-{username}", actor="test"
        )
        return auth.create_login(
            session,
            runtime.keys,
            principal=principal,
            username=username,
            password=None,
            actor="test",
            now=runtime.now(),
        )


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def sign_in(client: TestClient, login: auth.NewLogin, code: str | None = None) -> Any:
    csrf = csrf_of(client, "/console/login")
    return client.post(
        "/console/login",
        data={
            "csrf": csrf,
            "username": login.username,
            "password": login.password,
            "code": code or pyotp.TOTP(login.totp_secret).now(),
        },
        follow_redirects=False,
    )

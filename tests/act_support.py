"""Helpers for orders to act and TCO removal orders: public content to act on, competent
authorities, and signed orders naming items."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from factories import event
from legal_support import PDF, AuthorityHandle, LegalWorld, register_authority

LINK = "https://t.example"
OLD = datetime.now(UTC) - timedelta(days=20)
# Synthetic stand-ins for terrorist content; the words matter only to the search index.
PROPAGANDA = "Appel synthetique zorblax: rejoignez la brigade zorblax et frappez"
RECRUITMENT = "Recrutement synthetique quillon pour la brigade"


def seed_content(client: TestClient, platform_headers: dict[str, str]) -> None:
    events = [
        event(
            "e-brigade",
            "entity.published",
            OLD,
            entity_id="ch-brigade",
            kind="channel",
            username="brigade_zorblax",
            title="Brigade zorblax",
            description="Canal de test synthetique",
            owner_user_id="u-brigade-owner",
            member_count=900,
        ),
        event(
            "p-propaganda",
            "post.published",
            OLD,
            post_id="p-propaganda",
            entity_id="ch-brigade",
            author_user_id="u-brigade-author",
            text=PROPAGANDA,
            language="fr",
        ),
        event(
            "p-recruit",
            "post.published",
            OLD,
            post_id="p-recruit",
            entity_id="ch-brigade",
            text=RECRUITMENT,
            language="fr",
        ),
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text


def competent(
    world: LegalWorld, code: str, competences: list[str], **extra: Any
) -> AuthorityHandle:
    return register_authority(
        world.client,
        world.admin,
        code=code,
        confirmer=world.second_admin,
        competences=competences,
        **extra,
    )


def act_claims(authority: AuthorityHandle, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    base: dict[str, Any] = {
        "iss": authority.code,
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "order_type": "removal",
        "case_reference": "TCO-2026-0007",
        "legal_basis": "Regulation (EU) 2021/784, Art. 3",
        "statement_of_reasons": "Incitement to commit terrorist offences (Art. 2(7)(a) TCO).",
        "items": [{"url": f"{LINK}/brigade_zorblax/p-propaganda"}],
        "territorial_scope": ["EU"],
        "document": {"sha256": hashlib.sha256(PDF).hexdigest()},
    }
    base.update(changes)
    return base


def act_deadline(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()

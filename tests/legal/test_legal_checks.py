"""Automatic checks (competence, policy, targets, retention), risk flags, the reviewers'
rules, the database's four-eyes triggers and encryption of order data at rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from factories import legal_world
from legal_support import (
    INSIDE,
    SUSPECT,
    SUSPECT_PHONE,
    YES_TO_ALL,
    LegalWorld,
    approve,
    bearer,
    claims,
    register_authority,
    release,
    reviewer_view,
    sign,
    submit,
    validated_claims,
)
from rempart.app import create_app
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.legal.models import Disclosure, Order, Review

# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def checks_of(client: TestClient, order: dict[str, Any], reviewer: str) -> dict[str, str]:
    """The checks as a reviewer reads them: the authority's view carries none."""
    assert order["checks"] == []
    full = reviewer_view(client, order["reference"], reviewer)
    return {c["name"]: c["outcome"] for c in full["checks"]}


def test_competence_follows_e_evidence(world: LegalWorld) -> None:
    client, admin = world.client, world.admin
    prosecutor = register_authority(
        client, admin, confirmer=world.second_admin, code="fr-parquet", kind="prosecutor"
    )
    police = register_authority(
        client,
        admin,
        confirmer=world.second_admin,
        code="fr-police",
        kind="police",
        parent="fr-parquet",
    )
    alone = submit(client, police, sign(police, claims(police))).json()
    assert alone["status"] == "checks_failed"
    assert checks_of(client, alone, world.reviewers[0])["competence"] == "failed"
    assert "issuing_authority_not_competent" in alone["refusal"]["grounds"]

    validated = submit(client, police, sign(police, validated_claims(police, prosecutor))).json()
    assert validated["status"] == "checks_passed"
    # Naming the prosecutor without its signature is the police vouching for itself.
    self_declared = submit(
        client, police, sign(police, claims(police, validating_authority="fr-parquet"))
    ).json()
    assert self_declared["status"] == "checks_failed"

    urgent = submit(
        client,
        police,
        sign(
            police,
            claims(
                police,
                emergency=True,
                emergency_ground="imminent_threat_to_life",
                emergency_justification="Vie en danger.",
            ),
        ),
    ).json()
    assert urgent["status"] == "checks_passed"
    assert checks_of(client, urgent, world.reviewers[0])["competence"] == "warning"
    assert urgent["validation_due_at"] is not None

    unknown = submit(
        client, police, sign(police, claims(police, validating_authority="fr-nobody"))
    ).json()
    assert unknown["status"] == "checks_failed"

    traffic = submit(
        client,
        prosecutor,
        sign(
            prosecutor, claims(prosecutor, data_categories=["traffic_data", "identification_data"])
        ),
    ).json()
    assert traffic["status"] == "checks_passed"
    assert traffic["category_outcomes"]["traffic_data"]["status"] == "not_held"
    assert traffic["category_outcomes"]["identification_data"]["status"] == "pending"


def test_offence_policy_is_configurable(
    settings: Settings, make_token: Callable[..., str], platform_headers: dict[str, str]
) -> None:
    strict = settings.model_copy(update={"legal_policy": "terrorism_only"})
    with TestClient(create_app(strict)) as client:
        court = register_authority(
            client, make_token(Role.ADMIN), code="fr-tj-pnat", confirmer=make_token(Role.ADMIN)
        )
        reviewer = make_token(Role.LEGAL)
        fraud = submit(client, court, sign(court, claims(court))).json()
        assert checks_of(client, fraud, reviewer)["offence_eligible"] == "failed"
        terror = submit(
            client,
            court,
            sign(
                court,
                claims(
                    court,
                    offence={
                        "category": "terrorism",
                        "description": "Association de malfaiteurs terroriste",
                        "max_penalty_years": 30,
                        "violates_terms": True,
                    },
                ),
            ),
        ).json()
        assert checks_of(client, terror, reviewer)["offence_eligible"] == "passed"


def test_targets_and_retention(world: LegalWorld, settings: Settings) -> None:
    client, court = world.client, world.court
    spaced = "+61 491 570 156"
    by_phone = submit(
        client,
        court,
        sign(court, claims(court, targets=[{"kind": "phone_number", "value": spaced}])),
    ).json()
    # Whether the number has an account is for the reviewers to see, not the authority.
    assert by_phone["targets"][0]["resolution"] is None
    reviewer = world.reviewers[0]
    assert reviewer_view(client, by_phone["reference"], reviewer)["targets"][0]["resolution"] == (
        "found"
    )
    unknown = submit(
        client, court, sign(court, claims(court, targets=[{"kind": "user_id", "value": "ghost"}]))
    ).json()
    # No account: a warning for the reviewers, not an automatic refusal the authority
    # could read as "this identifier has no account".
    assert unknown["status"] == "checks_passed"
    assert checks_of(client, unknown, reviewer)["target_exists"] == "warning"
    mixed = submit(
        client,
        court,
        sign(
            court,
            claims(
                court,
                targets=[
                    {"kind": "user_id", "value": SUSPECT},
                    {"kind": "user_id", "value": "ghost"},
                ],
            ),
        ),
    ).json()
    assert checks_of(client, mixed, reviewer)["target_exists"] == "warning"
    assert mixed["status"] == "checks_passed"

    now = datetime.now(UTC)
    short = settings.model_copy(update={"ip_retention_days": 10})
    with TestClient(create_app(short)) as strict:
        old = {
            "start": (now - timedelta(days=40)).isoformat(),
            "end": (now - timedelta(days=30)).isoformat(),
        }
        expired = submit(strict, court, sign(court, claims(court, period=old))).json()
        assert checks_of(strict, expired, reviewer)["period_in_retention"] == "failed"
        partly = {
            "start": (now - timedelta(days=20)).isoformat(),
            "end": (now - timedelta(days=1)).isoformat(),
        }
        warned = submit(strict, court, sign(court, claims(court, period=partly))).json()
        assert checks_of(strict, warned, reviewer)["period_in_retention"] == "warning"


def test_risk_flags_inform_reviewers_only(world: LegalWorld) -> None:
    client, court = world.client, world.court
    reviewer = bearer(world.reviewers[0])
    first = submit(client, court, sign(court, claims(court))).json()
    platform = {"Authorization": f"Bearer {world.make_token(Role.PLATFORM)}"}
    marked = client.put(
        f"/v1/legal/protected-accounts/{SUSPECT}", json={"category": "press"}, headers=platform
    )
    assert marked.status_code == 200
    many = [{"kind": "user_id", "value": f"u-{i}"} for i in range(10)]
    second = submit(
        client,
        court,
        sign(court, claims(court, targets=[{"kind": "user_id", "value": SUSPECT}, *many])),
    ).json()
    flags_first = {
        f["code"]
        for f in client.get(f"/v1/legal/orders/{first['reference']}", headers=reviewer).json()[
            "risk_flags"
        ]
    }
    assert "first_order" in flags_first
    seen = client.get(f"/v1/legal/orders/{second['reference']}", headers=reviewer).json()
    flags = {f["code"] for f in seen["risk_flags"]}
    assert {"many_targets", "protected_target"} <= flags
    assert "first_order" not in flags
    assert seen["targets"][0]["protected_category"] == "press"
    assert (
        client.get(f"/v1/legal/orders/{second['reference']}", headers=court.headers).json()[
            "risk_flags"
        ]
        == []
    )
    approve(client, second["reference"], world.reviewers[0], approved_targets=[0])
    reviewed = client.get(f"/v1/legal/orders/{second['reference']}", headers=reviewer).json()
    assert {f["code"] for f in reviewed["reviews"][0]["risk_flags"]} == flags
    assert (
        client.delete(f"/v1/legal/protected-accounts/{SUSPECT}", headers=platform).status_code
        == 204
    )
    again = client.delete(f"/v1/legal/protected-accounts/{SUSPECT}", headers=platform)
    assert again.json()["error"]["code"] == "protected_account_not_found"


def test_reviews_need_a_complete_checklist_and_agree_on_the_intersection(
    world: LegalWorld,
) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    first, second = world.reviewers
    doubt = approve(
        client,
        reference,
        first,
        checklist={**YES_TO_ALL, "target_is_suspect_in_criminal_case": "no"},
    )
    assert doubt.json()["error"]["code"] == "approval_not_supported"
    partial = {k: v for k, v in YES_TO_ALL.items() if k != "fundamental_rights_considered"}
    assert approve(client, reference, first, checklist=partial).json()["error"]["code"] == (
        "checklist_incomplete"
    )
    content = approve(client, reference, first, approved_categories=["content_data"])
    assert content.json()["error"]["code"] == "category_not_approvable"
    no_grounds = client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json={"decision": "refuse", "checklist": YES_TO_ALL, "reasons": "Non."},
        headers=bearer(first),
    )
    assert no_grounds.status_code == 422
    moderator = world.make_token(Role.MODERATOR)
    assert approve(client, reference, moderator).status_code == 403
    assert approve(client, reference, court.token).status_code == 403

    approve(client, reference, first, approved_categories=["subscriber_data"])
    decided = approve(client, reference, second).json()
    assert decided["status"] == "partially_approved"
    assert decided["category_outcomes"]["subscriber_data"]["status"] == "approved"
    assert decided["category_outcomes"]["identification_data"]["status"] == "refused"


def test_the_database_enforces_four_eyes(world: LegalWorld, runtime: Runtime) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    approve(client, reference, world.reviewers[0])
    with runtime.engine.connect() as connection:
        order_id = connection.execute(
            sa.select(Order.id).where(Order.reference == reference)
        ).scalar_one()
        platform_id = connection.execute(
            sa.text("SELECT id FROM principals WHERE role = 'platform' LIMIT 1")
        ).scalar_one()
    now = datetime.now(UTC)
    with pytest.raises(sa.exc.DatabaseError), runtime.engine.begin() as connection:
        connection.execute(
            sa.insert(Disclosure).values(
                order_id=order_id,
                package_ciphertext=b"x",
                sha256="0" * 64,
                released_by=platform_id,
                released_at=now,
                downloads=0,
            )
        )
    with pytest.raises(sa.exc.DatabaseError), runtime.engine.begin() as connection:
        connection.execute(
            sa.insert(Review).values(
                order_id=order_id,
                reviewer_id=platform_id,
                decision="approve",
                approved_categories=[],
                approved_targets=[],
                checklist={},
                reasons="-",
                refusal_grounds=[],
                risk_flags=[],
                created_at=now,
            )
        )
    # Nor may a service call release it on one approval.
    early = client.post(
        f"/v1/legal/orders/{reference}/disclosure", headers=bearer(world.reviewers[0])
    )
    assert early.status_code == 409


def test_order_data_is_encrypted_at_rest(world: LegalWorld, runtime: Runtime) -> None:
    client, court = world.client, world.court
    reference = submit(
        client,
        court,
        sign(court, claims(court, targets=[{"kind": "phone_number", "value": SUSPECT_PHONE}])),
    ).json()["reference"]
    for reviewer in world.reviewers:
        approve(client, reference, reviewer)
    assert release(client, reference, world.reviewers[0]).status_code == 201
    secrets = [SUSPECT_PHONE, SUSPECT_PHONE.lstrip("+"), *(ip for ip, _, _ in INSIDE)]
    with runtime.engine.connect() as connection:
        for table in (
            "legal_order_targets",
            "legal_order_documents",
            "legal_disclosures",
            "legal_orders",
            "audit_entries",
        ):
            for row in connection.execute(sa.text(f"SELECT * FROM {table}")):
                dump = " ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                )
                for secret in secrets:
                    assert secret not in dump, (table, secret)
                # A JWS in clear would carry the targets, merely base64-encoded.
                assert "eyJ" not in dump, table

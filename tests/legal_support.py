"""Helpers for the lawful-disclosure tests: a platform with accounts and connections,
registered authorities with keys, and signed orders."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from rempart.auth.permissions import Role
from rempart.legal import jws

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
NOW = datetime.now(UTC)
PERIOD_START = NOW - timedelta(days=60)
PERIOD_END = NOW - timedelta(days=30)
SUSPECT = "u-suspect"
SUSPECT_PHONE = "+61491570156"
# Connections of the suspect: three inside the period, two outside it.
INSIDE = [
    ("198.51.100.7", 50123, PERIOD_START + timedelta(days=1)),
    ("2001:db8::42", 443, PERIOD_START + timedelta(days=10)),
    ("203.0.113.9", 61000, PERIOD_END - timedelta(hours=1)),
]
OUTSIDE = [
    ("192.0.2.1", 1234, PERIOD_START - timedelta(days=2)),
    ("192.0.2.2", 1235, PERIOD_END + timedelta(days=3)),
]


class MovableClock:
    """The service clock, moved forward by ``offset`` to reach deadlines."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


URGENT_CLAIMS = {
    "emergency": True,
    "emergency_ground": "imminent_threat_to_life",
    "emergency_justification": "Prise d'otage en cours, vie de la victime en danger.",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def seed_platform(client: TestClient, platform_headers: dict[str, str]) -> None:
    """A suspect with a phone and connections, and a username recycled after the period."""
    events: list[dict[str, Any]] = [
        {
            "id": "acc-suspect",
            "type": "account.registered",
            "occurred_at": iso(NOW - timedelta(days=200)),
            "user_id": SUSPECT,
            "username": "nightowl",
            "phone_number": SUSPECT_PHONE,
        },
        # The suspect gives up "nightowl" after the period; someone else takes it.
        {
            "id": "acc-suspect-rename",
            "type": "account.updated",
            "occurred_at": iso(PERIOD_END + timedelta(days=5)),
            "user_id": SUSPECT,
            "username": "dayowl",
            "phone_number": SUSPECT_PHONE,
        },
        {
            "id": "acc-newcomer",
            "type": "account.registered",
            "occurred_at": iso(PERIOD_END + timedelta(days=6)),
            "user_id": "u-newcomer",
            "username": "nightowl",
            "phone_number": "+14155550123",
        },
    ]
    for i, (ip, port, seen) in enumerate(INSIDE + OUTSIDE):
        events.append(
            {
                "id": f"conn-{i}",
                "type": "connection.seen",
                "occurred_at": iso(seen),
                "user_id": SUSPECT,
                "ip": ip,
                "port": port,
                "user_agent": "Demo/1.0",
            }
        )
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text


@dataclass
class AuthorityHandle:
    code: str
    token: str
    jwk: dict[str, Any]
    kind: str = "court"
    country: str = "FR"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def register_authority(
    client: TestClient,
    admin_token: str,
    *,
    code: str,
    kind: str = "court",
    country: str = "FR",
    parent: str | None = None,
    verified: bool = True,
    confirmer: str | None = None,
    competences: list[str] | None = None,
) -> AuthorityHandle:
    """Register an authority as an admin does, redeem its enrolment code as the authority
    does, and (``verified``) have a second admin, ``confirmer``, confirm the verification."""
    jwk = jws.generate_private_jwk(f"{code}-key-1")
    body: dict[str, Any] = {
        "code": code,
        "name": f"Authority {code}",
        "country": country,
        "kind": kind,
        "contact": f"duty-desk@{code}.example, +1 202 555 0142",
        "keys": [{"jwk": jws.public_jwk(jwk)}],
        "verified": verified,
    }
    if parent:
        body["parent"] = parent
    if competences:
        body["competences"] = competences
    response = client.post("/v1/legal/authorities", json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    created = response.json()
    token = redeem(client, created["enrolment"]["code"])
    if verified:
        assert confirmer is not None, "verifying an authority needs a second admin"
        confirm_proposal(client, created["verification"]["id"], confirmer)
    return AuthorityHandle(code=code, token=token, jwk=jwk, kind=kind, country=country)


def redeem(client: TestClient, code: str, second_code: str | None = None) -> str:
    """The person's side of an enrolment: their own token, for the code they were given
    (and, for a privileged role, the other admin's half)."""
    body = {"code": code} if second_code is None else {"code": code, "second_code": second_code}
    response = client.post("/v1/auth/enrolments/redeem", json=body)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def confirm_proposal(client: TestClient, proposal_id: int, admin_token: str) -> Any:
    response = client.post(
        f"/v1/auth/proposals/{proposal_id}/confirmation", headers=bearer(admin_token)
    )
    assert response.status_code == 200, response.text
    return response.json()


def verify_authority(client: TestClient, code: str, proposer: str, confirmer: str) -> None:
    """Verify (or reinstate) an authority the only way there is: two admins."""
    response = client.post(
        "/v1/auth/proposals",
        json={"kind": "authority_verification", "authority": code},
        headers=bearer(proposer),
    )
    assert response.status_code == 201, response.text
    confirm_proposal(client, response.json()["id"], confirmer)


def claims(authority: AuthorityHandle, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    base: dict[str, Any] = {
        "iss": authority.code,
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "case_reference": "PARQUET-2026-0042",
        "legal_basis": "Code de procédure pénale, art. 60-1",
        "offence": {
            "category": "fraud",
            "description": "Escroquerie en bande organisée",
            "max_penalty_years": 10,
            "violates_terms": True,
        },
        "targets": [{"kind": "user_id", "value": SUSPECT}],
        "data_categories": ["subscriber_data", "identification_data"],
        "period": {"start": iso(PERIOD_START), "end": iso(PERIOD_END)},
        "document": {"sha256": hashlib.sha256(PDF).hexdigest()},
    }
    base.update(changes)
    return base


def sign(authority: AuthorityHandle, payload: dict[str, Any]) -> str:
    return jws.sign(payload, private_jwk=authority.jwk, typ="rempart-order+jwt")


def countersign(validator: AuthorityHandle, order: dict[str, Any], **changes: Any) -> str:
    """The validating judicial authority's own signature over a police order."""
    now = int(datetime.now(UTC).timestamp())
    payload: dict[str, Any] = {
        "iss": validator.code,
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "countersigns": {
            "iss": order["iss"],
            "jti": order["jti"],
            "document_sha256": order["document"]["sha256"],
        },
    }
    payload.update(changes)
    return jws.sign(payload, private_jwk=validator.jwk, typ="rempart-countersignature+jwt")


def validated_claims(
    police: AuthorityHandle, validator: AuthorityHandle, **changes: Any
) -> dict[str, Any]:
    """A police order countersigned by its validating judicial authority."""
    order = claims(police, validating_authority=validator.code, **changes)
    order["validation"] = countersign(validator, order)
    return order


def submit(
    client: TestClient, authority: AuthorityHandle, token: str, document: bytes = PDF
) -> Any:
    return client.post(
        "/v1/legal/orders",
        data={"jws": token},
        files={"document": ("order.pdf", document, "application/pdf")},
        headers=authority.headers,
    )


YES_TO_ALL = {
    "order_authentic_and_complete": "yes",
    "target_is_suspect_in_criminal_case": "yes",
    "offence_violates_terms": "yes",
    "necessary_and_proportionate": "yes",
    "no_immunity_or_privilege": "yes",
    "fundamental_rights_considered": "yes",
}


def reviewer_view(client: TestClient, reference: str, reviewer: str) -> Any:
    """The order as a legal reviewer sees it: checks, resolutions and flags included."""
    response = client.get(f"/v1/legal/orders/{reference}", headers=bearer(reviewer))
    assert response.status_code == 200, response.text
    return response.json()


def call_back(client: TestClient, reference: str, reviewer: str, outcome: str = "confirmed") -> Any:
    """A reviewer's call to the authority's registered contact, recorded."""
    body = {
        "called_at": datetime.now(UTC).isoformat(),
        "person_reached": "Magistrat de permanence",
        "outcome": outcome,
        "notes": "Order confirmed by its reference and case number.",
    }
    return client.post(
        f"/v1/legal/orders/{reference}/callbacks", json=body, headers=bearer(reviewer)
    )


def release(client: TestClient, reference: str, reviewer: str) -> Any:
    """Release, after the call-back that the authority's first order (or an emergency, or
    a risk flag) calls for."""
    needed = reviewer_view(client, reference, reviewer)["callback_required"]
    if needed:
        assert call_back(client, reference, reviewer).status_code == 201
    return client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(reviewer))


def approve(client: TestClient, reference: str, reviewer: str, **changes: Any) -> Any:
    body = {"decision": "approve", "checklist": YES_TO_ALL, "reasons": "Proportionate."}
    body.update(changes)
    return client.post(f"/v1/legal/orders/{reference}/reviews", json=body, headers=bearer(reviewer))


@dataclass
class LegalWorld:
    client: TestClient
    court: AuthorityHandle
    reviewers: tuple[str, str]
    admin: str
    make_token: Callable[..., str]
    # Privileged changes need two admins: this one confirms what ``admin`` proposes.
    second_admin: str


def legal_world(
    client: TestClient, make_token: Callable[..., str], platform_headers: dict[str, str]
) -> LegalWorld:
    seed_platform(client, platform_headers)
    admin, second_admin = make_token(Role.ADMIN), make_token(Role.ADMIN)
    court = register_authority(client, admin, code="fr-tj-paris", confirmer=second_admin)
    return LegalWorld(
        client=client,
        court=court,
        reviewers=(make_token(Role.LEGAL), make_token(Role.LEGAL)),
        admin=admin,
        make_token=make_token,
        second_admin=second_admin,
    )

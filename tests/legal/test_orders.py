"""Lawful disclosure end to end over HTTP: a signed order goes through intake, checks, two
reviews and disclosure, and the disclosure holds exactly the phone number and the IP
addresses of the period. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jws as jose_jws
from joserfc.jwk import OKPKey

from factories import legal_world
from legal_support import (
    INSIDE,
    PDF,
    SUSPECT_PHONE,
    YES_TO_ALL,
    AuthorityHandle,
    LegalWorld,
    approve,
    bearer,
    call_back,
    claims,
    register_authority,
    release,
    reviewer_view,
    sign,
    submit,
)
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.legal import jws
from rempart.legal.disclosures import DISCLOSABLE_FIELDS

# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def audit_actions(client: TestClient, make_token: Callable[..., str]) -> list[str]:
    auditor = make_token(Role.AUDITOR)
    response = client.get("/v1/audit/entries?limit=1000", headers=bearer(auditor))
    assert response.status_code == 200, response.text
    return [json.loads(e["body"])["action"] for e in response.json()["items"]]


def test_signed_order_goes_through_checks_two_reviews_and_disclosure(
    world: LegalWorld, cli: Callable[..., object], tmp_path: Path
) -> None:
    client, court = world.client, world.court
    # The authority signs with the CLI tool, as it would on its own machine.
    key_file = tmp_path / "court.jwk"
    key_file.write_text(json.dumps(court.jwk))
    order_file = tmp_path / "order.json"
    payload = claims(court)
    for generated in ("iat", "exp", "jti", "document"):
        payload.pop(generated)
    order_file.write_text(json.dumps(payload))
    document = tmp_path / "order.pdf"
    document.write_bytes(PDF)
    signed = cli(
        "order", "sign", str(order_file), "--key", str(key_file), "--document", str(document)
    )
    assert signed.exit_code == 0, signed.stderr  # type: ignore[attr-defined]
    token = signed.stdout.strip()  # type: ignore[attr-defined]

    received = submit(client, court, token)
    assert received.status_code == 201, received.text
    order = received.json()
    reference = order["reference"]
    assert order["status"] == "checks_passed"
    # The checks' details, like whether a target has an account, stay with the reviewers.
    assert order["checks"] == []
    assert [t["resolution"] for t in order["targets"]] == [None]
    full = reviewer_view(client, reference, world.reviewers[0])
    assert {c["name"]: c["outcome"] for c in full["checks"]} == {
        "authority_verified": "passed",
        "competence": "passed",
        "data_held": "passed",
        "offence_eligible": "passed",
        "target_exists": "passed",
        "period_in_retention": "passed",
    }
    # The authority's view carries no reviewer detail and no identifier in clear.
    assert order["reviews"] == []
    assert order["risk_flags"] == []
    assert all(t["value"] is None for t in order["targets"])

    first, second = world.reviewers
    assert approve(client, reference, first).json()["status"] == "under_review"
    # The same reviewer cannot approve twice, whatever token they use.
    again = approve(client, reference, first)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "four_eyes"
    early = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(first))
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "disclosure_not_ready"

    decided = approve(client, reference, second)
    assert decided.status_code == 201, decided.text
    assert decided.json()["status"] == "approved"
    assert [r["decision"] for r in decided.json()["reviews"]] == ["approve", "approve"]

    preview = client.get(
        f"/v1/legal/orders/{reference}/disclosure/preview", headers=bearer(first)
    ).json()
    # The authority's first order: release waits for a call-back to its registered contact.
    assert decided.json()["callback_required"] == ["first_order"]
    unconfirmed = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(second))
    assert unconfirmed.status_code == 409
    assert unconfirmed.json()["error"]["code"] == "callback_required"
    assert call_back(client, reference, first).status_code == 201
    released = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(second))
    assert released.status_code == 201, released.text
    receipt = released.json()

    download = client.get(f"/v1/legal/orders/{reference}/disclosure", headers=court.headers)
    assert download.status_code == 200, download.text
    body = download.json()
    package = body["package"]
    assert package["records"] == preview["records"]
    [record] = package["records"]
    assert set(record) == {"target_position", *DISCLOSABLE_FIELDS}
    assert [p["number"] for p in record["phone_number"]] == [SUSPECT_PHONE]
    assert [(ip["address"], ip["port"]) for ip in record["ip_addresses"]] == [
        (ip, port) for ip, port, _ in INSIDE
    ]
    # The package is signed by the platform key, and its SHA-256 is the receipt's.
    raw_key = bytes.fromhex(body["platform_public_key"])
    public = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw_key)})
    verified = jose_jws.deserialize_compact(body["signed_package"], public, algorithms=["EdDSA"])
    assert hashlib.sha256(verified.payload).hexdigest() == receipt["sha256"] == body["sha256"]
    assert json.loads(verified.payload)["records"] == package["records"]

    html = client.get(f"/v1/legal/orders/{reference}/disclosure?format=html", headers=court.headers)
    assert html.status_code == 200
    assert SUSPECT_PHONE in html.text
    assert "text/html" in html.headers["content-type"]

    status = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert status["status"] == "disclosed"
    assert status["effected_at"] is not None
    actions = audit_actions(client, world.make_token)
    for action in (
        "legal.order.received",
        "legal.order.checked",
        "legal.order.reviewed",
        "legal.order.decided",
        "legal.disclosure.released",
        "legal.disclosure.downloaded",
    ):
        assert action in actions
    assert actions.count("legal.disclosure.downloaded") == 2
    assert cli("audit", "verify").exit_code == 0  # type: ignore[attr-defined]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_forged_replayed_expired_and_mismatched_orders_are_refused_and_audited(
    world: LegalWorld,
) -> None:
    client, court = world.client, world.court
    forger = dict(court.jwk)
    impostor = jws.generate_private_jwk(court.jwk["kid"])
    forger.update({"d": impostor["d"], "x": impostor["x"]})
    forged = sign(AuthorityHandle(court.code, court.token, forger), claims(court))
    response = submit(client, court, forged)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"

    unknown = jws.generate_private_jwk("nobody-knows-me")
    response = submit(
        client, court, sign(AuthorityHandle(court.code, court.token, unknown), claims(court))
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unknown_key"

    token = sign(court, claims(court))
    assert submit(client, court, token).status_code == 201
    replay = submit(client, court, token)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "replayed_token"

    expired = sign(court, claims(court, iat=1_700_000_000, exp=1_700_003_600))
    response = submit(client, court, expired)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "expired_token"

    response = submit(client, court, sign(court, claims(court)), document=PDF + b"tampered")
    assert response.json()["error"]["code"] == "document_hash_mismatch"

    response = submit(client, court, "not.a.jws")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed_jws"

    listing = client.get("/v1/legal/orders", headers=court.headers).json()
    assert listing["total"] == 1
    actions = audit_actions(client, world.make_token)
    assert actions.count("legal.order.refused_at_intake") == 6


def test_content_requests_are_answered_as_not_held(world: LegalWorld) -> None:
    client, court = world.client, world.court
    only_content = submit(
        client, court, sign(court, claims(court, data_categories=["content_data"]))
    )
    assert only_content.status_code == 201
    order = only_content.json()
    assert order["status"] == "checks_failed"
    assert order["category_outcomes"]["content_data"]["status"] == "not_held"
    assert "data_not_held" in order["refusal"]["grounds"]

    mixed = submit(
        client,
        court,
        sign(court, claims(court, data_categories=["content_data", "identification_data"])),
    ).json()
    assert mixed["status"] == "checks_passed"
    reference = mixed["reference"]
    for reviewer in world.reviewers:
        approve(client, reference, reviewer)
    decided = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert decided["status"] == "partially_approved"
    assert release(client, reference, world.reviewers[0]).status_code == 201
    package = client.get(f"/v1/legal/orders/{reference}/disclosure", headers=court.headers).json()
    [record] = package["package"]["records"]
    assert set(record) == {"target_position", "ip_addresses"}


def test_recycled_username_points_at_the_holder_during_the_period(world: LegalWorld) -> None:
    client, court = world.client, world.court
    order = submit(
        client,
        court,
        sign(court, claims(court, targets=[{"kind": "username", "value": "NightOwl"}])),
    ).json()
    reviewer = world.reviewers[0]
    full = client.get(f"/v1/legal/orders/{order['reference']}", headers=bearer(reviewer)).json()
    [target] = full["targets"]
    assert target["resolution"] == "found"
    assert target["value"] == "NightOwl"
    for r in world.reviewers:
        approve(client, order["reference"], r)
    release(client, order["reference"], reviewer)
    package = client.get(
        f"/v1/legal/orders/{order['reference']}/disclosure", headers=court.headers
    ).json()
    # The suspect's number, not the newcomer's who holds "nightowl" today.
    assert package["package"]["records"][0]["phone_number"][0]["number"] == SUSPECT_PHONE


def test_refusal_carries_reasons_the_authority_can_read(world: LegalWorld) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    refusal = client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json={
            "decision": "refuse",
            "checklist": {**YES_TO_ALL, "necessary_and_proportionate": "no"},
            "reasons": "La période demandée excède ce que l'enquête justifie.",
            "refusal_grounds": ["disproportionate"],
        },
        headers=bearer(world.reviewers[0]),
    )
    assert refusal.status_code == 201
    seen = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert seen["status"] == "refused"
    assert seen["refusal"] == {
        "grounds": ["disproportionate"],
        "reasons": "La période demandée excède ce que l'enquête justifie.",
    }
    nothing = client.get(f"/v1/legal/orders/{reference}/disclosure", headers=court.headers)
    assert nothing.status_code == 409


def test_an_authority_sees_only_its_own_orders(world: LegalWorld) -> None:
    client, court = world.client, world.court
    other = register_authority(
        client,
        world.admin,
        confirmer=world.second_admin,
        code="be-parquet-bxl",
        kind="prosecutor",
        country="BE",
    )
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    assert client.get(f"/v1/legal/orders/{reference}", headers=other.headers).status_code == 404
    assert client.get("/v1/legal/orders", headers=other.headers).json()["total"] == 0
    # Nor may it submit with the court's key.
    stolen = submit(client, other, sign(court, claims(court)))
    assert stolen.status_code == 403
    assert stolen.json()["error"]["code"] == "not_your_key"
    moderator = world.make_token(Role.MODERATOR)
    assert client.get("/v1/legal/orders", headers=bearer(moderator)).status_code == 403


def test_emergency_order_goes_ahead_on_one_approval_then_gets_its_second_review(
    world: LegalWorld,
) -> None:
    client, court = world.client, world.court
    token = sign(
        court,
        claims(
            court,
            emergency=True,
            emergency_ground="imminent_threat_to_life",
            emergency_justification="Menace imminente pour la vie.",
        ),
    )
    reference = submit(client, court, token).json()["reference"]
    first, second = world.reviewers
    decided = approve(client, reference, first).json()
    assert decided["status"] == "approved"
    assert decided["confirmation"] == "pending"
    assert decided["second_review_due_at"] is not None
    # A court's own emergency order needs no later judicial validation.
    assert decided["validation_due_at"] is None
    assert decided["callback_required"] == ["emergency", "first_order"]
    assert release(client, reference, first).status_code == 201

    confirmed = approve(client, reference, second)
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["confirmation"] == "confirmed"
    seen = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert seen["confirmation"] == "confirmed"
    assert seen["emergency_ground"] == "imminent_threat_to_life"


def test_withdrawn_order_cannot_be_reviewed(world: LegalWorld) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    withdrawn = client.post(f"/v1/legal/orders/{reference}/withdrawal", headers=court.headers)
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    late = approve(client, reference, world.reviewers[0])
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "invalid_transition"


def test_order_document_is_stored_encrypted_and_read_back_audited(world: LegalWorld) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    for headers in (court.headers, bearer(world.reviewers[0])):
        document = client.get(f"/v1/legal/orders/{reference}/document", headers=headers)
        assert document.status_code == 200
        assert document.content == PDF
        assert document.headers["content-type"] == "application/pdf"
    assert audit_actions(client, world.make_token).count("legal.order.document.read") == 2
    outsider = register_authority(
        client, world.admin, confirmer=world.second_admin, code="it-procura-roma", country="IT"
    )
    hidden = client.get(f"/v1/legal/orders/{reference}/document", headers=outsider.headers)
    assert hidden.status_code == 404


def test_a_package_is_decrypted_signed_and_encrypted_with_no_write_transaction_open(
    world: LegalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package holds every record of up to three years: decrypting them, signing and
    encrypting the package, and opening it for a download, must not hold SQLite's write
    lock (preview, release, download)."""
    import write_guard
    from rempart.core.crypto import KeyRing

    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    first, second = world.reviewers
    approve(client, reference, first)
    approve(client, reference, second)
    noted: list[tuple[str, bool]] = []
    real_decrypt, real_encrypt = KeyRing.decrypt_bytes, KeyRing.encrypt_bytes
    with write_guard.watching_writes() as watch:

        def decrypt(self: KeyRing, blob: bytes, *, purpose: str) -> bytes:
            if purpose in ("phone", "ip"):
                noted.append(("decrypt", watch.holding()))
            elif purpose == "disclosure-package":
                noted.append(("open", watch.holding()))
            return real_decrypt(self, blob, purpose=purpose)

        def encrypt(self: KeyRing, plaintext: bytes, *, purpose: str) -> bytes:
            if purpose == "disclosure-package":
                noted.append(("encrypt", watch.holding()))
            return real_encrypt(self, plaintext, purpose=purpose)

        monkeypatch.setattr(KeyRing, "decrypt_bytes", decrypt)
        monkeypatch.setattr(KeyRing, "encrypt_bytes", encrypt)
        preview = client.get(
            f"/v1/legal/orders/{reference}/disclosure/preview", headers=bearer(first)
        )
        assert preview.status_code == 200, preview.text
        released = release(client, reference, first)
        assert released.status_code == 201, released.text
        downloaded = client.get(f"/v1/legal/orders/{reference}/disclosure", headers=court.headers)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.json()["sha256"] == released.json()["sha256"]
    decrypted = [held for what, held in noted if what == "decrypt"]
    assert decrypted  # the suspect's phone numbers and addresses, twice
    assert noted.count(("encrypt", False)) == 1
    assert noted.count(("open", False)) == 1
    assert not any(held for _what, held in noted)
    # The preview was audited, the release stored once.
    assert audit_actions(client, world.make_token).count("legal.disclosure.previewed") == 1
    again = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(first))
    assert again.status_code == 409


def test_a_release_whose_order_changed_after_its_package_was_built_is_refused(
    world: LegalWorld, runtime: Runtime
) -> None:
    """Between the read that built the package and the write that stores it, another
    reviewer released it, or the authority withdrew the order: the write refuses."""
    from rempart.auth import service as auth_service
    from rempart.core.db import transaction
    from rempart.legal import disclosures, reads
    from rempart.legal import service as legal_service
    from rempart.legal.exceptions import DisclosureNotReady

    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    first, second = world.reviewers
    approve(client, reference, first)
    approve(client, reference, second)
    if reviewer_view(client, reference, first)["callback_required"]:
        assert call_back(client, reference, first).status_code == 201
    with transaction(runtime.engine, readonly=True) as session:
        releaser = auth_service.authenticate(session, token=first)

    def sealed() -> disclosures.SealedRelease:
        with transaction(runtime.engine, readonly=True) as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            draft = disclosures.draft_release(
                session, order=order, keys=runtime.keys, settings=runtime.settings
            )
        return disclosures.seal_release(draft, keys=runtime.keys)

    # Two reviewers release at once: both packages are built, one is stored.
    late = sealed()
    legal_service.release_disclosure(runtime, reference=reference, caller=releaser)

    def store(sealed: disclosures.SealedRelease) -> None:
        with transaction(runtime.engine) as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            disclosures.release(
                session,
                order=order,
                sealed=sealed,
                keys=runtime.keys,
                caller_id=releaser.principal_id,
                actor=releaser.actor,
            )

    with pytest.raises(DisclosureNotReady):
        store(late)
    with transaction(runtime.engine, readonly=True) as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        assert order.status == "disclosed"

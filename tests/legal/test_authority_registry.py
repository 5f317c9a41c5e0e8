"""The registry of authorities over the admin API and the CLI, and the authority-side
tools (`authority keygen`, `order sign`, `order validate`). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from legal_support import (
    PDF,
    bearer,
    claims,
    confirm_proposal,
    redeem,
    register_authority,
    sign,
    submit,
    verify_authority,
)
from rempart.auth.permissions import Role
from rempart.legal import jws
from rempart.legal.schemas import OrderClaims, ValidationClaims

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "order.yaml"


def create(client: TestClient, admin: str, **body: Any) -> Any:
    base = {
        "code": "fr-tj-lyon",
        "name": "Tribunal judiciaire de Lyon",
        "country": "FR",
        "kind": "court",
    }
    return client.post("/v1/legal/authorities", json={**base, **body}, headers=bearer(admin))


def test_registry_over_the_api(
    client: TestClient, make_token: Callable[..., str], cli: Callable[..., Any]
) -> None:
    admin = make_token(Role.ADMIN)
    key = jws.generate_private_jwk("lyon-1")
    created = create(client, admin, keys=[{"jwk": jws.public_jwk(key)}])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["authority"]["status"] == "pending"
    assert body["authority"]["timezone"] == "Europe/Paris"
    assert [k["kid"] for k in body["authority"]["keys"]] == ["lyon-1"]
    # The admin gets an enrolment code, never the authority's token.
    assert "token" not in body
    me = client.get(
        "/v1/legal/authorities/me", headers=bearer(redeem(client, body["enrolment"]["code"]))
    ).json()
    assert me["code"] == "fr-tj-lyon"

    for changes, status, code in [
        ({}, 409, "authority_exists"),
        ({"code": "x1", "country": "XX"}, 422, "invalid_country"),
        ({"code": "x2", "kind": "sheriff"}, 422, "invalid_request"),
        ({"code": "Bad Code"}, 422, "invalid_request"),
        ({"code": "x3", "kind": "police"}, 422, "parent_required"),
        ({"code": "x4", "parent": "fr-tj-lyon"}, 422, "unexpected_parent"),
        ({"code": "x5", "timezone": "Mars/Olympus"}, 422, "invalid_timezone"),
        ({"code": "x6", "keys": [{"jwk": key}]}, 422, "private_key_sent"),
        ({"code": "x7", "keys": [{"jwk": {"kty": "RSA", "kid": "r"}}]}, 422, "invalid_key"),
        ({"code": "x8", "keys": [{"jwk": jws.public_jwk(key)}]}, 409, "key_exists"),
    ]:
        response = create(client, admin, **changes)
        assert response.status_code == status, (changes, response.text)
        assert response.json()["error"]["code"] == code, changes
    # A refused creation left nothing behind: the same code is still free.
    assert create(client, admin, code="x8").status_code == 201
    police = create(client, admin, code="fr-police-lyon", kind="police", parent="fr-tj-lyon")
    assert police.status_code == 201
    assert police.json()["authority"]["parent"] == "fr-tj-lyon"

    listing = client.get("/v1/legal/authorities?country=fr", headers=bearer(admin)).json()
    assert {a["code"] for a in listing} == {"fr-tj-lyon", "x8", "fr-police-lyon"}
    legal = make_token(Role.LEGAL)
    assert client.get("/v1/legal/authorities/fr-tj-lyon", headers=bearer(legal)).status_code == 200
    assert client.get("/v1/legal/authorities/nope", headers=bearer(legal)).status_code == 404
    assert create(client, legal, code="x9").status_code == 403
    assert create(client, make_token(Role.MODERATOR), code="x9").status_code == 403

    alone = client.post(
        "/v1/legal/authorities/fr-tj-lyon/status",
        json={"status": "verified"},
        headers=bearer(admin),
    )
    assert alone.status_code == 409
    assert alone.json()["error"]["code"] == "four_eyes_required"
    other_admin = make_token(Role.ADMIN)
    verify_authority(client, "fr-tj-lyon", admin, other_admin)
    verified = client.get("/v1/legal/authorities/fr-tj-lyon", headers=bearer(admin))
    assert verified.json()["status"] == "verified"
    second = jws.generate_private_jwk("lyon-2")
    direct = client.post(
        "/v1/legal/authorities/fr-tj-lyon/keys",
        json={"jwk": jws.public_jwk(second)},
        headers=bearer(admin),
    )
    assert direct.status_code == 409
    assert direct.json()["error"]["code"] == "four_eyes_required"
    proposed = client.post(
        "/v1/auth/proposals",
        json={"kind": "authority_key", "authority": "fr-tj-lyon", "jwk": jws.public_jwk(second)},
        headers=bearer(admin),
    )
    assert proposed.status_code == 201, proposed.text
    confirm_proposal(client, proposed.json()["id"], other_admin)
    keys = client.get("/v1/legal/authorities/fr-tj-lyon", headers=bearer(admin)).json()["keys"]
    assert [k["kid"] for k in keys] == ["lyon-1", "lyon-2"]
    revoked = client.post("/v1/legal/authorities/keys/lyon-1/revocation", headers=bearer(admin))
    assert revoked.json()["revoked_at"] is not None
    assert cli("audit", "verify").exit_code == 0


def test_key_and_authority_status_decide_intake(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    admin = make_token(Role.ADMIN)
    second_admin = make_token(Role.ADMIN)
    court = register_authority(client, admin, code="fr-tj-nice", confirmer=second_admin)
    token = sign(court, claims(court))
    client.post(f"/v1/legal/authorities/keys/{court.jwk['kid']}/revocation", headers=bearer(admin))
    refused = submit(client, court, token)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "key_revoked"

    other = register_authority(client, admin, code="fr-tj-pau", confirmer=second_admin)
    client.post(
        "/v1/legal/authorities/fr-tj-pau/status",
        json={"status": "suspended"},
        headers=bearer(admin),
    )
    suspended = submit(client, other, sign(other, claims(other)))
    assert suspended.json()["error"]["code"] == "authority_suspended"

    pending = register_authority(client, admin, code="fr-tj-metz", verified=False)
    order = submit(client, pending, sign(pending, claims(pending))).json()
    assert order["status"] == "checks_failed"
    assert order["refusal"]["grounds"] == ["issuing_authority_not_competent"]


def test_authority_tools_on_the_command_line(
    cli: Callable[..., Any],
    client: TestClient,
    tmp_path: Path,
    make_token: Callable[..., str],
) -> None:
    private = tmp_path / "court.jwk"
    made = cli("authority", "keygen", "--kid", "fr-tj-paris-2026", "--out", str(private))
    assert made.exit_code == 0, made.stderr
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = json.loads(made.stdout)
    assert "d" not in public
    assert cli("authority", "keygen", "--kid", "x", "--out", str(private)).exit_code == 1
    public_file = tmp_path / "court.pub.jwk"
    public_file.write_text(json.dumps(public))

    added = cli(
        "authority",
        "add",
        "--code",
        "fr-tj-paris",
        "--name",
        "TJ Paris",
        "--country",
        "FR",
        "--kind",
        "investigating_judge",
        "--public-key",
        str(public_file),
    )
    assert added.exit_code == 0, added.stderr
    token = redeem(client, added.stdout.strip().splitlines()[-1])
    assert client.get("/v1/legal/authorities/me", headers=bearer(token)).json()["code"] == (
        "fr-tj-paris"
    )
    assert "fr-tj-paris" in cli("authority", "list").stdout
    assert cli("authority", "suspend", "fr-tj-paris").exit_code == 0
    # One operator at a shell is one person: verifying needs two admins (API or console).
    alone = cli("authority", "verify", "fr-tj-paris")
    assert alone.exit_code == 1
    assert "four_eyes_required" in alone.stderr
    admins = make_token(Role.ADMIN), make_token(Role.ADMIN)
    verify_authority(client, "fr-tj-paris", *admins)
    missing = cli("authority", "suspend", "nowhere")
    assert missing.exit_code == 1
    assert "authority_not_found" in missing.stderr

    document = tmp_path / "ordonnance.pdf"
    document.write_bytes(PDF)
    out = tmp_path / "order.jws"
    signed = cli(
        "order",
        "sign",
        str(EXAMPLE),
        "--key",
        str(private),
        "--document",
        str(document),
        "--out",
        str(out),
    )
    assert signed.exit_code == 0, signed.stderr
    compact = out.read_text().strip()
    payload = OrderClaims.model_validate(
        jws.verify(compact, public_key=jws.public_key_bytes(public))
    )
    assert payload.document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert payload.document.filename == "ordonnance.pdf"
    assert payload.iss == "fr-tj-paris"

    wrong = tmp_path / "wrong.json"
    wrong.write_text(
        json.dumps(
            {
                **json.loads(json.dumps(payload.model_dump(mode="json"))),
                "document": {"sha256": "0" * 64},
            }
        )
    )
    assert (
        cli(
            "order", "sign", str(wrong), "--key", str(private), "--document", str(document)
        ).exit_code
        == 1
    )
    empty = tmp_path / "empty.yaml"
    empty.write_text("iss: fr-tj-paris\ntargets: []\n")
    invalid = cli("order", "sign", str(empty), "--key", str(private), "--document", str(document))
    assert invalid.exit_code == 1
    assert "targets" in invalid.stderr
    assert "Traceback" not in invalid.stderr
    assert (
        cli(
            "order",
            "sign",
            str(EXAMPLE),
            "--key",
            str(tmp_path / "none.jwk"),
            "--document",
            str(document),
        ).exit_code
        == 1
    )

    validation = cli(
        "order", "validate", "ORD-2026-ABCDEF1234", "--issuer", "fr-tj-paris", "--key", str(private)
    )
    assert validation.exit_code == 0, validation.stderr
    claims_of = ValidationClaims.model_validate(
        jws.verify(validation.stdout.strip(), public_key=jws.public_key_bytes(public))
    )
    assert claims_of.validates == "ORD-2026-ABCDEF1234"
    assert claims_of.exp - claims_of.iat == 48 * 3600

"""Bearer tokens: 401 without a valid one, 403 without the permission, tokens kept hashed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rempart.audit.models import AuditEntry
from rempart.auth import service as auth
from rempart.auth.exceptions import Forbidden, Unauthenticated, UnknownRole
from rempart.auth.models import ApiToken, Principal
from rempart.auth.permissions import ROLE_PERMISSIONS, Permission, Role, role_has
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.platform.models import Entity

MakeToken = Callable[..., str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


def one_event() -> dict[str, Any]:
    return {
        "events": [
            {
                "id": f"ev-{uuid.uuid4().hex}",
                "type": "entity.published",
                "occurred_at": "2026-02-01T00:00:00Z",
                "entity_id": "e-1",
                "kind": "channel",
                "title": "News",
            }
        ]
    }


# -- 401 ------------------------------------------------------------------------------


MISSING = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer    "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Token abc"},
]


def test_missing_token(client: TestClient) -> None:
    for headers in MISSING:
        for method, path in (("GET", "/v1/auth/me"), ("POST", "/v1/ingest/events")):
            response = client.request(method, path, headers=headers, json=one_event())
            assert error_of(response, 401)["code"] == "missing_token", (headers, path)
            assert response.headers["www-authenticate"] == "Bearer"


def test_invalid_token(client: TestClient, runtime: Runtime) -> None:
    for token in ("rpt_nope", "x" * 500, "rpt_" + "A" * 43, "ünïcode-tøken"):
        # Raw bytes: a header may carry any octet, which the server reads as latin-1.
        headers = {"Authorization": f"Bearer {token}".encode()}
        response = client.post("/v1/ingest/events", headers=headers, json=one_event())
        assert error_of(response, 401)["code"] == "invalid_token", token
        assert token not in response.text
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(sa.select(Entity)).first() is None


def test_scheme_is_case_insensitive(client: TestClient, make_token: MakeToken) -> None:
    token = make_token(Role.PLATFORM)
    response = client.get("/v1/auth/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200, response.text


def test_revoked_expired_and_inactive_tokens(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    revoked, expired, inactive, valid = (make_token(Role.PLATFORM) for _ in range(4))
    hashes = {
        name: hashlib.sha256(t.encode()).digest()
        for name, t in (("revoked", revoked), ("expired", expired), ("inactive", inactive))
    }
    with transaction(runtime.engine) as session:
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == hashes["revoked"])
            .values(revoked_at=runtime.now())
        )
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == hashes["expired"])
            .values(expires_at=runtime.now() - timedelta(seconds=1))
        )
        principal_id = session.execute(
            sa.select(ApiToken.principal_id).where(ApiToken.token_hash == hashes["inactive"])
        ).scalar_one()
        session.execute(
            sa.update(Principal).where(Principal.id == principal_id).values(status="suspended")
        )
    assert (
        error_of(client.get("/v1/auth/me", headers=bearer(revoked)), 401)["code"] == "token_revoked"
    )
    assert (
        error_of(client.get("/v1/auth/me", headers=bearer(expired)), 401)["code"] == "token_expired"
    )
    assert (
        error_of(client.get("/v1/auth/me", headers=bearer(inactive)), 401)["code"]
        == "principal_inactive"
    )
    assert client.get("/v1/auth/me", headers=bearer(valid)).status_code == 200


def test_token_with_future_expiry_works(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    token = make_token(Role.PLATFORM)
    with transaction(runtime.engine) as session:
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == hashlib.sha256(token.encode()).digest())
            .values(expires_at=runtime.now() + timedelta(hours=1))
        )
    assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 200


# -- 403 ------------------------------------------------------------------------------


FORBIDDEN: list[tuple[Role, str, str, Any]] = [
    (Role.MODERATOR, "POST", "/v1/ingest/events", one_event()),
    (Role.AUDITOR, "POST", "/v1/ingest/events", one_event()),
    (Role.ADMIN, "POST", "/v1/ingest/events", one_event()),
    (Role.PLATFORM, "GET", "/v1/audit/entries", None),
    (Role.LEGAL, "GET", "/v1/audit/entries", None),
    (Role.PLATFORM, "POST", "/v1/auth/enrolments", {"role": "platform", "name": "sneaky"}),
    (Role.AUDITOR, "POST", "/v1/auth/enrolments", {"role": "platform", "name": "sneaky"}),
    (
        Role.LEGAL,
        "POST",
        "/v1/auth/proposals",
        {"kind": "role_grant", "role": "legal", "name": "sneaky"},
    ),
    (Role.MODERATOR, "GET", "/v1/auth/proposals", None),
]


def test_forbidden(client: TestClient, make_token: MakeToken, runtime: Runtime) -> None:
    tokens = {role: make_token(role) for role in {case[0] for case in FORBIDDEN}}
    for role, method, path, body in FORBIDDEN:
        response = client.request(method, path, headers=bearer(tokens[role]), json=body)
        error = error_of(response, 403)
        assert error["code"] == "forbidden", (role, path)
        assert role.value in error["message"]
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(sa.select(Entity)).first() is None
        assert (
            session.execute(sa.select(Principal).where(Principal.name == "sneaky")).first() is None
        )


def test_allowed(client: TestClient, make_token: MakeToken) -> None:
    assert (
        client.post(
            "/v1/ingest/events", headers=bearer(make_token(Role.PLATFORM)), json=one_event()
        ).status_code
        == 200
    )
    entries = client.get("/v1/audit/entries", headers=bearer(make_token(Role.AUDITOR)))
    assert entries.status_code == 200, entries.text


def test_permission_table() -> None:
    assert role_has(Role.PLATFORM, Permission.INGEST_EVENTS)
    assert not any(
        role_has(role, Permission.INGEST_EVENTS) for role in Role if role is not Role.PLATFORM
    )
    assert all(role_has(role, Permission.WHOAMI) for role in Role)
    assert set(ROLE_PERMISSIONS) == set(Role)
    with pytest.raises(Forbidden):
        auth.authorise(auth.Caller(1, "m", Role.MODERATOR), Permission.INGEST_EVENTS)


# -- /v1/auth/me and token creation ---------------------------------------------------


def test_me(client: TestClient, make_token: MakeToken) -> None:
    token = make_token(Role.LEGAL, "reviewer-one")
    response = client.get("/v1/auth/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["name"] == "reviewer-one"
    assert me["role"] == "legal"
    assert me["status"] == "active"
    assert isinstance(me["id"], int)
    assert me["created_at"]
    assert token not in response.text


def test_admin_enrols_and_the_person_redeems(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    admin = make_token(Role.ADMIN, "root-admin")
    response = client.post(
        "/v1/auth/enrolments", headers=bearer(admin), json={"role": "platform", "name": "bridge"}
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    assert (issued["principal"], issued["role"], issued["purpose"]) == (
        "bridge",
        "platform",
        "enrol",
    )
    assert issued["code"].startswith("rpe_")
    assert "rpt_" not in response.text
    redeemed = client.post("/v1/auth/enrolments/redeem", json={"code": issued["code"]})
    assert redeemed.status_code == 201, redeemed.text
    created = redeemed.json()
    assert created["principal"]["name"] == "bridge"
    assert created["principal"]["role"] == "platform"
    assert created["token"].startswith("rpt_")
    assert created["prefix"] == created["token"][:10]
    assert created["expires_at"]
    token = created["token"]
    me = client.get("/v1/auth/me", headers=bearer(token)).json()
    assert (me["name"], me["role"], me["status"]) == ("bridge", "platform", "active")
    assert (
        client.post("/v1/ingest/events", headers=bearer(token), json=one_event()).status_code == 200
    )

    # The principal mints another token for itself; both work.
    again = client.post("/v1/auth/tokens", headers=bearer(token))
    assert again.status_code == 201
    assert again.json()["token"] != token
    assert again.json()["principal"]["id"] == created["principal"]["id"]
    assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 200

    # The same name again is a conflict, whatever the role.
    clash = client.post(
        "/v1/auth/enrolments", headers=bearer(admin), json={"role": "flagger", "name": "bridge"}
    )
    assert error_of(clash, 409)["code"] == "principal_exists"

    with transaction(runtime.engine, readonly=True) as session:
        bodies = [
            json.loads(b)
            for b in session.execute(
                sa.select(AuditEntry.body).where(AuditEntry.action.like("auth.%"))
            ).scalars()
        ]
    mine = [b for b in bodies if b["target"] == f"principal:{created['principal']['id']}"]
    assert [b["action"] for b in mine] == [
        "auth.principal.create",
        "auth.enrolment.enrol",
        "auth.enrolment.redeem",
        "auth.token.create",
        "auth.token.create",
    ]
    # The token was issued by the principal itself, not by the admin.
    assert {b["actor"] for b in mine if b["action"] == "auth.token.create"} == {
        f"principal:{created['principal']['id']}"
    }
    assert token not in json.dumps(bodies)
    assert issued["code"] not in json.dumps(bodies)


BAD_TOKEN_REQUESTS: list[Any] = [
    {"role": "superuser", "name": "x"},
    {"role": "platform"},
    {"role": "platform", "name": ""},
    {"role": "platform", "name": "bad/name"},
    {"role": "platform", "name": "x" * 129},
    {"role": "platform", "name": "ok", "admin": True},
    {"role": "platform", "name": "ok", "+61491570156": True},
    [],
]


def test_enrolment_request_is_validated(client: TestClient, make_token: MakeToken) -> None:
    headers = bearer(make_token(Role.ADMIN))
    for body in BAD_TOKEN_REQUESTS:
        response = client.post("/v1/auth/enrolments", headers=headers, json=body)
        assert error_of(response, 422)["code"] == "invalid_request", body
        assert "superuser" not in response.text
        assert "61491570156" not in response.text
        assert response.json()["error"]["items"]


def test_service_errors() -> None:
    with pytest.raises(UnknownRole) as raised:
        auth.parse_role("root")
    assert "platform" in raised.value.message
    assert auth.parse_role("auditor") is Role.AUDITOR


def test_authenticate_service(runtime: Runtime, make_token: MakeToken) -> None:
    token = make_token(Role.FLAGGER, "flagger-a")
    with transaction(runtime.engine, readonly=True) as session:
        caller = auth.authenticate(session, token=token)
        assert (caller.name, caller.role) == ("flagger-a", Role.FLAGGER)
        assert caller.actor == f"principal:{caller.principal_id}"
        with pytest.raises(Unauthenticated) as missing:
            auth.authenticate(session, token=None)
        assert missing.value.code == "missing_token"
        with pytest.raises(Unauthenticated) as wrong:
            auth.authenticate(session, token=token + "x")
        assert wrong.value.code == "invalid_token"


# -- CLI ------------------------------------------------------------------------------


def test_cli_token_create(cli: Callable[..., Any], client: TestClient) -> None:
    result = cli("token", "create", "--role", "platform", "--name", "cli-bridge")
    assert result.exit_code == 0, result.stdout + result.stderr
    token = result.stdout.strip()
    assert token.startswith("rpt_")
    assert "\n" not in token
    me = client.get("/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["role"]) == ("cli-bridge", "platform")
    assert (
        client.post("/v1/ingest/events", headers=bearer(token), json=one_event()).status_code == 200
    )

    # An existing principal gets no token from the operator: only from itself.
    second = cli("token", "create", "--role", "platform", "--name", "cli-bridge")
    assert second.exit_code != 0
    assert "principal_exists" in second.stdout + second.stderr
    assert "rpt_" not in second.stdout


def test_cli_unknown_role(cli: Callable[..., Any], runtime: Runtime) -> None:
    result = cli("token", "create", "--role", "superuser", "--name", "someone")
    assert result.exit_code != 0
    output = result.stdout + result.stderr
    assert "unknown_role" in output or "Unknown role" in output
    for role in Role:
        assert role.value in output
    assert "rpt_" not in output
    with transaction(runtime.engine, readonly=True) as session:
        assert (
            session.execute(sa.select(Principal).where(Principal.name == "someone")).first() is None
        )


def test_cli_bootstraps_admins_but_grants_no_privileged_role(cli: Callable[..., Any]) -> None:
    assert cli("token", "create", "--role", "platform", "--name", "person").exit_code == 0
    result = cli("token", "create", "--role", "admin", "--name", "person")
    assert result.exit_code != 0
    assert "principal_exists" in result.stdout + result.stderr
    for role in ("legal", "auditor"):
        refused = cli("token", "create", "--role", role, "--name", f"new-{role}")
        assert refused.exit_code != 0
        assert "four_eyes_required" in refused.stdout + refused.stderr
    # A fresh install gets its first two admins from the operator, then no more.
    assert cli("token", "create", "--role", "admin", "--name", "admin-1").exit_code == 0
    assert cli("token", "create", "--role", "admin", "--name", "admin-2").exit_code == 0
    third = cli("token", "create", "--role", "admin", "--name", "admin-3")
    assert third.exit_code != 0
    assert "four_eyes_required" in third.stdout + third.stderr


def test_cli_requires_role_and_name(cli: Callable[..., Any]) -> None:
    assert cli("token", "create", "--name", "x").exit_code != 0
    assert cli("token", "create", "--role", "platform").exit_code != 0


# -- tokens at rest -------------------------------------------------------------------


def _every_value(runtime: Runtime) -> list[Any]:
    values: list[Any] = []
    with runtime.engine.connect() as connection:
        for name in sa.inspect(runtime.engine).get_table_names():
            for row in connection.execute(sa.select(sa.text("*")).select_from(sa.table(name))):
                values.extend(row)
    return values


def test_only_the_token_hash_is_stored(
    client: TestClient,
    cli: Callable[..., Any],
    make_token: MakeToken,
    runtime: Runtime,
    settings: Settings,
) -> None:
    tokens = [make_token(Role.ADMIN)]
    tokens.append(cli("token", "create", "--role", "flagger", "--name", "ngo").stdout.strip())
    tokens.append(client.post("/v1/auth/tokens", headers=bearer(tokens[0])).json()["token"])
    with transaction(runtime.engine, readonly=True) as session:
        stored = set(session.execute(sa.select(ApiToken.token_hash)).scalars())
    for token in tokens:
        assert hashlib.sha256(token.encode()).digest() in {bytes(h) for h in stored}

    secret_parts = [token.split("_", 1)[1] for token in tokens]
    for value in _every_value(runtime):
        if isinstance(value, str):
            assert not any(s in value for s in secret_parts)
        elif isinstance(value, bytes | memoryview):
            assert not any(s.encode() in bytes(value) for s in secret_parts)

    if settings.database_url.startswith("sqlite"):
        path = Path(settings.database_url.split(":///", 1)[1])
        raw = b"".join(
            Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
        assert not any(s.encode() in raw for s in secret_parts)

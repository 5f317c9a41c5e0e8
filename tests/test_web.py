"""The console's sign-in (password and TOTP, lock-out, sessions) and the forms' CSRF
protection, through HTTP; the browser flows are in test_e2e.py."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from rempart.auth import service as auth_service
from rempart.auth.permissions import Role
from rempart.core.clock import utcnow
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.web import auth

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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
            now=utcnow(),
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


def test_sign_in_needs_password_and_a_fresh_totp_code(client: TestClient, runtime: Runtime) -> None:
    login = make_login(runtime, "mod", Role.MODERATOR)
    assert client.get("/console", follow_redirects=False).status_code == 303
    current = pyotp.TOTP(login.totp_secret).now()
    wrong = sign_in(client, login, code="000000" if current != "000000" else "111111")
    assert wrong.status_code == 401
    signed = sign_in(client, login)
    assert signed.status_code == 303
    assert "HttpOnly" in signed.headers["set-cookie"]
    assert "SameSite=strict" in signed.headers["set-cookie"]
    assert client.get("/console/moderation").status_code == 200
    # The same code cannot be used twice.
    replay = TestClient(client.app)
    again = sign_in(replay, login, code=pyotp.TOTP(login.totp_secret).now())
    assert again.status_code == 401


def test_five_failures_lock_the_login(client: TestClient, runtime: Runtime) -> None:
    login = make_login(runtime, "legal", Role.LEGAL)
    bad = auth.NewLogin(login.username, "not-the-password", login.totp_secret)
    for _ in range(auth.MAX_FAILURES):
        assert sign_in(client, bad).status_code == 401
    locked = sign_in(client, login)
    assert locked.status_code == 401
    assert "Too many failed attempts" in locked.text


def test_forms_refuse_a_missing_or_forged_csrf_token(client: TestClient) -> None:
    csrf_of(client, "/report")  # sets the cookie
    forged = client.post(
        "/report",
        data={
            "csrf": "forged",
            "url": "https://t.example/x",
            "category": "spam",
            "explanation": "A long enough explanation.",
        },
    )
    assert forged.status_code == 403
    no_cookie = TestClient(client.app)
    appeal = {"csrf": "x", "secret": "y" * 20, "explanation": "z" * 20}
    assert no_cookie.post("/appeal", data=appeal).status_code == 403


def test_roles_are_enforced_on_pages(client: TestClient, runtime: Runtime) -> None:
    login = make_login(runtime, "mod2", Role.MODERATOR)
    assert sign_in(client, login).status_code == 303
    assert client.get("/console/legal/orders").status_code == 403
    assert client.get("/console/legal/orders/ANY-1").status_code == 403


def test_public_pages_in_both_languages(client: TestClient) -> None:
    english = client.get("/disclosure?lang=en")
    assert "Never message content" in english.text
    remembered = client.get("/disclosure", headers={"Accept-Language": "fr-FR"})
    assert "Never message content" in remembered.text  # the choice beats the browser's
    french = client.get("/disclosure?lang=fr")
    assert "Jamais le contenu des messages" in french.text
    assert 'lang="fr"' in french.text
    assert client.get("/report").status_code == 200
    assert client.get("/static/htmx.min.js").status_code == 200

"""The console's web front against an attacker who plants cookies, spreads a password
guess over a network's addresses, or serves the console over https."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from factories import csrf_of, make_login, sign_in
from rempart.app import create_app
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.web.pages import LOGIN_ATTEMPTS


def _logout(client: TestClient, csrf: str) -> int:
    return client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False).status_code


def test_a_planted_csrf_pair_is_worthless_once_the_victim_signs_in(
    client: TestClient, runtime: Runtime
) -> None:
    # The attacker visits the site, keeps the pre-session cookie and the token it gives,
    # and plants that cookie in the victim's browser (from a sibling site of the host).
    client.get("/console/login")
    planted_token = csrf_of(client, "/console/login")
    assert sign_in(client, make_login(runtime, "victim", Role.MODERATOR)).status_code == 303
    # The victim is signed in with the planted cookie still in the jar: a forged form
    # with the attacker's token is refused, the session lives on.
    assert _logout(client, planted_token) == 403
    assert client.get("/console/moderation").status_code == 200
    own_token = csrf_of(client, "/console/moderation")
    assert own_token != planted_token
    assert _logout(client, own_token) == 303


def test_a_token_from_one_session_does_not_serve_another(
    client: TestClient, runtime: Runtime
) -> None:
    assert sign_in(client, make_login(runtime, "first-mod", Role.MODERATOR)).status_code == 303
    first = csrf_of(client, "/console/moderation")
    client.cookies.clear()
    assert sign_in(client, make_login(runtime, "second-mod", Role.MODERATOR)).status_code == 303
    second = csrf_of(client, "/console/moderation")
    assert first != second
    assert _logout(client, first) == 403
    assert _logout(client, second) == 303


@pytest.fixture
def https_client(settings: Settings) -> Iterator[TestClient]:
    served = settings.model_copy(update={"public_url": "https://127.0.0.1:8443"})
    with TestClient(create_app(served), base_url="https://testserver") as test_client:
        yield test_client


def test_over_https_cookies_are_secure_and_host_only(
    https_client: TestClient, runtime: Runtime
) -> None:
    form = https_client.get("/console/login")
    presession = form.headers["set-cookie"]
    assert presession.startswith("__Host-rempart_presession=")
    assert "Secure" in presession
    assert "HttpOnly" in presession
    assert "Path=/" in presession
    assert "Domain" not in presession
    signed_in = sign_in(https_client, make_login(runtime, "tls-mod", Role.MODERATOR))
    assert signed_in.status_code == 303
    session_cookie = signed_in.headers["set-cookie"]
    assert session_cookie.startswith("__Host-rempart_session=")
    assert "Secure" in session_cookie
    assert "samesite=strict" in session_cookie.lower()
    assert https_client.get("/console/moderation").status_code == 200


def test_sign_in_guesses_spread_over_one_network_share_one_budget(settings: Settings) -> None:
    app = create_app(settings)
    answers = []
    # One attacker, many addresses of one /24: each address tries once.
    for host in range(1, LOGIN_ATTEMPTS + 2):
        with TestClient(app, client=(f"203.0.113.{host}", 40000)) as attacker:
            csrf = csrf_of(attacker, "/console/login")
            answers.append(
                attacker.post(
                    "/console/login",
                    data={"csrf": csrf, "username": "legal1", "password": "guess", "code": "1"},
                )
            )
    assert [a.status_code for a in answers[:LOGIN_ATTEMPTS]] == [401] * LOGIN_ATTEMPTS
    assert "Too many requests" in answers[-1].text
    # A reviewer on another network is not locked out by the attack.
    with TestClient(app, client=("198.51.100.20", 40000)) as colleague:
        csrf = csrf_of(colleague, "/console/login")
        other = colleague.post(
            "/console/login",
            data={"csrf": csrf, "username": "legal1", "password": "guess", "code": "1"},
        )
    assert "Wrong username" in other.text


def test_anonymous_reads_are_limited_per_network(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"public_reads_per_minute": 5}))
    answers = []
    # One network, several addresses: one allowance.
    for host in range(1, 8):
        with TestClient(app, client=(f"198.51.100.{host}", 40000)) as reader:
            answers.append(reader.get("/v1/transparency/FR"))
    assert all(a.status_code != 429 for a in answers[:5])
    assert [a.status_code for a in answers[5:]] == [429, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1
    with TestClient(app, client=("203.0.113.9", 40000)) as neighbour:
        assert neighbour.get("/v1/transparency/FR").status_code != 429
        # Signed-in and platform work is not counted against the public allowance.
        assert neighbour.get("/healthz").status_code == 200

"""The console's sign-in (password and TOTP, lock-out, sessions) and the forms' CSRF
protection, through HTTP; the browser flows are in test_e2e.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

import write_guard
from factories import csrf_of, make_login, sign_in
from legal_support import MovableClock
from rempart.auth import signin as auth
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_sign_in_needs_password_and_a_fresh_totp_code(client: TestClient, runtime: Runtime) -> None:
    login = make_login(runtime, "mod", Role.MODERATOR)
    assert client.get("/console", follow_redirects=False).status_code == 303
    current = pyotp.TOTP(login.totp_secret).now()
    wrong = sign_in(client, login, code="000000" if current != "000000" else "111111")
    assert wrong.status_code == 401
    used = pyotp.TOTP(login.totp_secret).now()
    signed = sign_in(client, login, code=used)
    assert signed.status_code == 303
    assert "HttpOnly" in signed.headers["set-cookie"]
    assert "SameSite=strict" in signed.headers["set-cookie"]
    assert client.get("/console/moderation").status_code == 200
    # The same code cannot be used twice (the very code, whatever the clock did since).
    replay = TestClient(client.app)
    again = sign_in(replay, login, code=used)
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


@pytest.mark.usefixtures("scanned")
def test_bulk_decisions_and_item_history(client: TestClient, runtime: Runtime) -> None:
    login = make_login(runtime, "bulk", Role.MODERATOR)
    assert sign_in(client, login).status_code == 303
    listing = client.get("/console/moderation?source=rules")
    ids = re.findall(r'name="item" value="(\d+)"', listing.text)
    assert len(ids) >= 2
    csrf = csrf_of(client, "/console/moderation")
    done = client.post(
        "/console/moderation/bulk",
        data={
            "csrf": csrf,
            "item": ids[:2],
            "action": "remove_content",
            "category": "drug_sales",
            "explanation": "Offers of drugs for sale.",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "2+decided" in done.headers["location"]
    item = client.get(f"/console/moderation/items/{ids[0]}")
    assert "Earlier decisions" in item.text
    assert "Offers of drugs for sale." in item.text
    assert 'id="standing"' in item.text


def test_appeals_are_hidden_from_the_moderator_who_decided(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    from factories import deliver, notice, outbox, platform_world, run_worker

    platform_world(client, platform_headers)
    run_worker(runtime)
    assert client.post("/v1/reports", json=notice()).status_code == 202
    run_worker(runtime)
    first, second = (
        make_login(runtime, "a1", Role.MODERATOR),
        make_login(runtime, "a2", Role.MODERATOR),
    )
    browser_a, browser_b = TestClient(client.app), TestClient(client.app)
    assert sign_in(browser_a, first).status_code == 303
    assert sign_in(browser_b, second).status_code == 303
    claimed = browser_a.post(
        "/console/moderation/claim",
        data={"csrf": csrf_of(browser_a, "/console/moderation")},
        follow_redirects=False,
    )
    item_id = claimed.headers["location"].rsplit("/", 1)[1]
    decided = browser_a.post(
        f"/console/moderation/items/{item_id}/decide",
        data={
            "csrf": csrf_of(browser_a, f"/console/moderation/items/{item_id}"),
            "action": "no_violation",
            "category": "scams_fraud",
            "explanation": "Not a scam.",
        },
        follow_redirects=False,
    )
    assert decided.status_code == 303
    deliver(runtime)
    [told] = [m for m in outbox(runtime) if m["type"] == "report_decision"]
    secret = told["appeal_link"].split("#", 1)[1]
    appeal = {"secret": secret, "explanation": "It really is a scam, they took my money."}
    assert client.post("/v1/appeals", json=appeal).status_code == 202
    mine = browser_a.get("/console/moderation?reason=appeal").text
    theirs = browser_b.get("/console/moderation?reason=appeal").text
    assert f'value="{item_id}"' not in mine
    assert f'value="{item_id}"' in theirs


def test_auditors_verify_the_chain_and_admins_see_roles(
    client: TestClient, runtime: Runtime
) -> None:
    from rempart.audit import service as audit

    auditor = make_login(runtime, "aud", Role.AUDITOR)
    audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)
    assert sign_in(client, auditor).status_code == 303
    log = client.get("/console/audit")
    assert "web.login.create" in log.text
    verdict = client.post("/console/audit/verify", data={"csrf": csrf_of(client, "/console/audit")})
    assert 'id="verdict"' in verdict.text
    assert "The log verifies" in verdict.text
    assert client.get("/console/admin").status_code == 403

    admin = make_login(runtime, "adm", Role.ADMIN)
    other = TestClient(client.app)
    assert sign_in(other, admin).status_code == 303
    roles = other.get("/console/admin")
    assert roles.status_code == 200
    assert "web-aud" in roles.text
    made = other.post(
        "/console/admin/enrolments",
        data={"csrf": csrf_of(other, "/console/admin"), "role": "flagger", "name": "ngo-1"},
    )
    # The admin gets a one-time code for the flagger, never the flagger's token.
    code = re.search(r'id="enrolment-code">([^<]+)<', made.text)
    assert code
    assert "rpt_" not in made.text
    redeemed = client.post("/v1/auth/enrolments/redeem", json={"code": code.group(1)})
    assert redeemed.status_code == 201, redeemed.text
    token = redeemed.json()["token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "flagger"


def test_console_in_french_and_sessions_expire_when_idle(
    client: TestClient, runtime: Runtime
) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    login = make_login(runtime, "fr", Role.MODERATOR)
    assert sign_in(client, login).status_code == 303
    french = client.get("/console/moderation?lang=fr")
    assert "File de modération" in french.text
    assert "Décider pour la sélection" in french.text
    idle = runtime.now() - auth.SESSION_IDLE - timedelta(minutes=1)
    with runtime.engine.begin() as connection:
        connection.execute(sa.update(auth.WebSession).values(last_seen_at=idle))
    assert client.get("/console/moderation", follow_redirects=False).status_code == 303


def test_admins_suspend_authorities_and_revoke_keys(
    client: TestClient, runtime: Runtime, make_token: Any
) -> None:
    from legal_support import register_authority

    admin_token = make_token(Role.ADMIN)
    court = register_authority(
        client, admin_token, code="fr-tj-lyon", confirmer=make_token(Role.ADMIN)
    )
    admin = make_login(runtime, "adm2", Role.ADMIN)
    assert sign_in(client, admin).status_code == 303
    csrf = csrf_of(client, "/console/admin")
    headers = {"Authorization": f"Bearer {admin_token}"}
    kid = court.jwk["kid"]
    # A click without the confirmation (or a replayed form) changes nothing.
    for path, data in (
        ("/console/admin/authorities/fr-tj-lyon/status", {"status": "suspended"}),
        (f"/console/admin/keys/{kid}/revoke", {}),
    ):
        hasty = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        assert hasty.status_code == 400
        assert "nothing was changed" in hasty.text
    read = client.get("/v1/legal/authorities/fr-tj-lyon", headers=headers).json()
    assert read["status"] == "verified"
    assert read["keys"][0]["revoked_at"] is None
    suspended = client.post(
        "/console/admin/authorities/fr-tj-lyon/status",
        data={"csrf": csrf, "status": "suspended", "confirm": "yes"},
        follow_redirects=False,
    )
    assert suspended.status_code == 303
    read = client.get("/v1/legal/authorities/fr-tj-lyon", headers=headers).json()
    assert read["status"] == "suspended"
    revoked = client.post(
        f"/console/admin/keys/{kid}/revoke",
        data={"csrf": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    read = client.get("/v1/legal/authorities/fr-tj-lyon", headers=headers).json()
    assert read["keys"][0]["revoked_at"] is not None
    french = client.get("/console/admin?lang=fr").text
    assert "Autorités et leurs clés" in french
    assert "Rétablir fr-tj-lyon" in french
    assert "révoquée" in french


class _AtAWindowStart:
    """The budget is counted in fixed ten-minute windows: held at a window's start, the
    attempts cannot straddle two windows, however slow the machine (they did, once)."""

    def now(self) -> datetime:
        return datetime(2026, 12, 7, tzinfo=UTC)


class WatchedHasher:
    """The console's argon2 hasher, noting for each hash or check whether this thread held
    a write transaction's lock meanwhile (SQLite's, or PostgreSQL's rows)."""

    def __init__(self, watch: write_guard.WriteLockWatch) -> None:
        self.real = auth._hasher
        self.watch = watch
        self.held: list[tuple[str, bool]] = []

    def hash(self, password: str) -> str:
        self.held.append(("hash", self.watch.holding()))
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.held.append(("verify", self.watch.holding()))
        return self.real.verify(password_hash, password)


@contextmanager
def watched_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[WatchedHasher]:
    with write_guard.watching_writes() as watch:
        watched = WatchedHasher(watch)
        monkeypatch.setattr(auth, "_hasher", watched)
        yield watched


def test_the_password_is_checked_with_no_write_transaction_open(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is slow on purpose: a flood of sign-ins must not hold SQLite's write lock
    while it runs, or every writer waits behind the attackers' guesses."""
    login = make_login(runtime, "hasher", Role.MODERATOR)
    with watched_hasher(monkeypatch) as watched:
        assert sign_in(client, login).status_code == 303
        wrong = auth.NewLogin(login.username, "not the password", login.totp_secret)
        assert sign_in(client, wrong).status_code == 401
    assert watched.held == [("verify", False), ("verify", False)]


def console_enrol(client: TestClient, code: str, username: str, password: str) -> Any:
    return client.post(
        "/console/enrol",
        data={
            "csrf": csrf_of(client, "/console/enrol"),
            "code": code,
            "username": username,
            "password": password,
        },
    )


def test_enrolment_and_totp_reset_hash_with_no_write_transaction_open(
    client: TestClient, make_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's enrolment hashes the chosen password, its TOTP reset checks the
    existing one: both before the write transaction that spends the code."""
    admin = {"Authorization": f"Bearer {make_token(Role.ADMIN)}"}
    code = client.post(
        "/v1/auth/enrolments", json={"role": "moderator", "name": "mod-hash"}, headers=admin
    ).json()["code"]
    password = "a long pass phrase"
    with watched_hasher(monkeypatch) as watched:
        assert console_enrol(client, code, "modhash", password).status_code == 200
        reset = client.post("/v1/auth/logins/modhash/totp-reset", headers=admin).json()["code"]
        renewed = console_enrol(client, reset, "modhash", password)
        assert renewed.status_code == 200, renewed.text
        assert 'id="totp-secret"' in renewed.text
        # A made-up code costs no hashing at all.
        assert console_enrol(client, "rpe_made-up", "modhash2", password).status_code == 400
    assert watched.held == [("hash", False), ("verify", False)]


def test_sign_in_is_rate_limited_per_network(
    client: TestClient, service_clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rempart.web.pages import LOGIN_ATTEMPTS

    monkeypatch.setattr(service_clock, "now", _AtAWindowStart().now)
    csrf = csrf_of(client, "/console/login")
    answers = [
        client.post(
            "/console/login",
            data={"csrf": csrf, "username": f"nobody{i}", "password": "x", "code": "000000"},
        )
        for i in range(LOGIN_ATTEMPTS + 1)
    ]
    assert {a.status_code for a in answers} == {401}
    assert "Wrong username" in answers[0].text
    assert "Too many requests" in answers[-1].text


def test_the_operator_s_first_login_is_hashed_with_no_write_transaction_open(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watched_hasher(monkeypatch) as watched:
        made = cli("user", "create", "--username", "root", "--principal", "root", "--role", "admin")
    assert made.exit_code == 0, made.stderr
    assert "password: " in made.stdout
    assert watched.held == [("hash", False)]

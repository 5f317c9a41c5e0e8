"""Separation of duties and the life of credentials, played by the insider through HTTP.

An admin must not obtain another principal's credentials, nor grant a privileged role,
verify an authority or add its key alone. Tokens expire and are revoked at once; console
logins are disabled and their second factor reset; enrolment codes work once, in time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from fastapi.testclient import TestClient

from legal_support import (
    MovableClock,
    bearer,
    claims,
    confirm_proposal,
    redeem,
    register_authority,
    sign,
    submit,
)
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import jws

MakeToken = Callable[..., str]


def code_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


def audit_actions(runtime: Runtime) -> list[dict[str, Any]]:
    with transaction(runtime.engine, readonly=True) as session:
        return [json.loads(b) for b in session.execute(sa.select(AuditEntry.body)).scalars()]


def propose(client: TestClient, admin: str, **body: Any) -> Any:
    return client.post("/v1/auth/proposals", json=body, headers=bearer(admin))


def grant(client: TestClient, proposer: str, confirmer: str, role: str, name: str) -> str:
    """A privileged principal as it must be made: two admins, then the person redeems."""
    proposal = propose(client, proposer, kind="role_grant", role=role, name=name)
    assert proposal.status_code == 201, proposal.text
    decided = confirm_proposal(client, proposal.json()["id"], confirmer)
    return redeem(client, decided["enrolment"]["code"], proposal.json()["code_part"])


# -- attack 1: one admin, two reviewers ------------------------------------------------


def test_an_admin_cannot_mint_a_token_for_an_existing_reviewer(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    reviewer = make_token(Role.LEGAL, "reviewer-one")
    reviewer_id = client.get("/v1/auth/me", headers=bearer(reviewer)).json()["id"]
    admin = make_token(Role.ADMIN)
    for body in ({"role": "legal", "name": "reviewer-one"}, {"name": "reviewer-one"}):
        minted = client.post("/v1/auth/tokens", json=body, headers=bearer(admin))
        assert code_of(minted, 409) == "other_principal"
        assert "rpt_" not in minted.text
    # Not through an enrolment or a grant for the same name either.
    enrol = client.post(
        "/v1/auth/enrolments",
        json={"role": "moderator", "name": "reviewer-one"},
        headers=bearer(admin),
    )
    assert code_of(enrol, 409) == "principal_exists"
    regrant = propose(client, admin, kind="role_grant", role="legal", name="reviewer-one")
    assert code_of(regrant, 409) == "principal_exists"
    # A token for a new name by someone else: enrolment, not a token.
    fresh = client.post("/v1/auth/tokens", json={"name": "ghost"}, headers=bearer(admin))
    assert code_of(fresh, 409) == "enrolment_required"
    # The reviewer still has exactly the one token they made.
    with transaction(runtime.engine, readonly=True) as session:
        count = session.execute(
            sa.text("SELECT count(*) FROM api_tokens WHERE principal_id = :p"), {"p": reviewer_id}
        ).scalar_one()
    assert count == 1
    # An admin is never a reviewer: not even by minting itself a "legal" token.
    promoted = client.post("/v1/auth/tokens", json={"role": "legal"}, headers=bearer(admin))
    assert code_of(promoted, 409) == "role_mismatch"
    # A reviewer may mint a token for itself, and it acts as itself.
    own = client.post("/v1/auth/tokens", json={"name": "reviewer-one"}, headers=bearer(reviewer))
    assert own.status_code == 201, own.text
    assert client.get("/v1/auth/me", headers=bearer(own.json()["token"])).json()["id"] == (
        reviewer_id
    )


def test_one_admin_cannot_grant_the_legal_role_alone(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    admin, other_admin = make_token(Role.ADMIN, "adm-a"), make_token(Role.ADMIN, "adm-b")
    reviewer = make_token(Role.LEGAL)
    for role in ("legal", "auditor", "admin"):
        direct = client.post(
            "/v1/auth/enrolments", json={"role": role, "name": f"new-{role}"}, headers=bearer(admin)
        )
        assert code_of(direct, 409) == "four_eyes_required"
    proposal = propose(client, admin, kind="role_grant", role="legal", name="second-reviewer")
    assert proposal.status_code == 201, proposal.text
    # The proposer holds only half of the person's code.
    assert proposal.json()["code_part"].startswith("rpe_")
    pid, proposer_half = proposal.json()["id"], proposal.json()["code_part"]
    own = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(admin))
    assert code_of(own, 409) == "four_eyes_required"
    # Not a principal yet: nobody can act as it.
    with transaction(runtime.engine, readonly=True) as session:
        assert (
            session.execute(
                sa.text("SELECT count(*) FROM principals WHERE name = 'second-reviewer'")
            ).scalar_one()
            == 0
        )
    # The existing reviewers see what is being granted, and by whom.
    shown = client.get("/v1/auth/proposals?status=pending", headers=bearer(reviewer))
    assert shown.status_code == 200, shown.text
    [pending] = shown.json()
    assert (pending["kind"], pending["subject"], pending["proposed_by"]) == (
        "role_grant",
        "second-reviewer",
        "adm-a",
    )
    assert pending["details"]["role"] == "legal"
    decided = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(other_admin))
    assert decided.status_code == 200, decided.text
    assert decided.json()["proposal"]["decided_by"] == "adm-b"
    confirmer_half = decided.json()["enrolment"]["code"]
    assert decided.json()["enrolment"]["needs_second_code"] is True
    # Neither admin alone can enrol in the reviewer's place: each holds half the code.
    for alone in ({"code": confirmer_half}, {"code": proposer_half}):
        refused = client.post("/v1/auth/enrolments/redeem", json=alone)
        assert code_of(refused, 400) == "enrolment_invalid"
    mixed = {"code": confirmer_half, "second_code": "rpe_" + "B" * 43}
    assert code_of(client.post("/v1/auth/enrolments/redeem", json=mixed), 400) == (
        "enrolment_invalid"
    )
    # The person, given both halves (in any order), enrols.
    token = redeem(client, proposer_half, confirmer_half)
    me = client.get("/v1/auth/me", headers=bearer(token)).json()
    assert (me["name"], me["role"]) == ("second-reviewer", "legal")
    again = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(other_admin))
    assert code_of(again, 409) == "proposal_closed"
    actions = [(e["action"], e["actor"]) for e in audit_actions(runtime)]
    assert ("auth.grant.propose", "principal:" + str(_id(client, admin))) in actions
    assert ("auth.grant.confirm", "principal:" + str(_id(client, other_admin))) in actions


def _id(client: TestClient, token: str) -> int:
    value: int = client.get("/v1/auth/me", headers=bearer(token)).json()["id"]
    return value


def test_one_admin_cannot_verify_an_authority_or_add_its_key_alone(
    client: TestClient, make_token: MakeToken
) -> None:
    admin, other_admin = make_token(Role.ADMIN), make_token(Role.ADMIN)
    court = register_authority(client, admin, code="fr-tj-rouen", verified=False)
    status_url = "/v1/legal/authorities/fr-tj-rouen/status"
    alone = client.post(status_url, json={"status": "verified"}, headers=bearer(admin))
    assert code_of(alone, 409) == "four_eyes_required"
    proposal = propose(client, admin, kind="authority_verification", authority="fr-tj-rouen")
    pid = proposal.json()["id"]
    own = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(admin))
    assert code_of(own, 409) == "four_eyes_required"
    # Created "verified" by one admin: still pending, with a proposal for another admin.
    created = client.post(
        "/v1/legal/authorities",
        json={
            "code": "fr-tj-caen",
            "name": "TJ Caen",
            "country": "FR",
            "kind": "court",
            "verified": True,
        },
        headers=bearer(admin),
    )
    assert created.json()["authority"]["status"] == "pending"
    assert created.json()["verification"]["status"] == "pending"
    # Still pending: its orders fail the checks.
    order = submit(client, court, sign(court, claims(court))).json()
    assert order["status"] == "checks_failed"

    # A key slipped in between proposal and confirmation voids the proposal.
    sneaky = jws.generate_private_jwk("rouen-sneaky")
    added = client.post(
        "/v1/legal/authorities/fr-tj-rouen/keys",
        json={"jwk": jws.public_jwk(sneaky)},
        headers=bearer(admin),
    )
    assert added.status_code == 201
    stale = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(other_admin))
    assert code_of(stale, 409) == "proposal_stale"
    fresh = propose(client, admin, kind="authority_verification", authority="fr-tj-rouen")
    confirm_proposal(client, fresh.json()["id"], other_admin)
    assert (
        client.get("/v1/legal/authorities/fr-tj-rouen", headers=bearer(admin)).json()["status"]
        == "verified"
    )

    # Verified: a new key is a new way to sign its orders, so two admins again.
    extra = jws.generate_private_jwk("rouen-2")
    direct = client.post(
        "/v1/legal/authorities/fr-tj-rouen/keys",
        json={"jwk": jws.public_jwk(extra)},
        headers=bearer(admin),
    )
    assert code_of(direct, 409) == "four_eyes_required"
    key = propose(
        client, admin, kind="authority_key", authority="fr-tj-rouen", jwk=jws.public_jwk(extra)
    )
    assert key.status_code == 201, key.text
    assert "rouen-2" in key.text
    assert '"x"' not in key.text
    own_key = client.post(
        f"/v1/auth/proposals/{key.json()['id']}/confirmation", headers=bearer(admin)
    )
    assert code_of(own_key, 409) == "four_eyes_required"
    # Protective actions stay one-admin.
    suspended = client.post(status_url, json={"status": "suspended"}, headers=bearer(admin))
    assert suspended.status_code == 200
    rejected = client.post(
        f"/v1/auth/proposals/{key.json()['id']}/rejection", headers=bearer(admin)
    )
    assert rejected.json()["status"] == "rejected"


# -- tokens: expiry and revocation ----------------------------------------------------


def test_revoked_tokens_answer_401_at_once(
    client: TestClient, make_token: MakeToken, cli: Callable[..., Any]
) -> None:
    admin = make_token(Role.ADMIN)
    moderator = make_token(Role.MODERATOR)
    spare = client.post("/v1/auth/tokens", headers=bearer(moderator)).json()
    listed = client.get("/v1/auth/tokens", headers=bearer(moderator)).json()
    assert {t["id"] for t in listed} >= {spare["id"]}
    assert all("token" not in t for t in listed)
    # A principal revokes its own token…
    revoked = client.post(f"/v1/auth/tokens/{spare['id']}/revocation", headers=bearer(moderator))
    assert revoked.status_code == 200
    assert code_of(client.get("/v1/auth/me", headers=bearer(spare["token"])), 401) == (
        "token_revoked"
    )
    # …but not somebody else's, which it cannot tell from a missing one.
    admin_tokens = client.get("/v1/auth/tokens", headers=bearer(admin)).json()
    theirs = client.post(
        f"/v1/auth/tokens/{admin_tokens[0]['id']}/revocation", headers=bearer(moderator)
    )
    assert code_of(theirs, 404) == "token_not_found"
    assert client.get("/v1/auth/me", headers=bearer(admin)).status_code == 200
    # An admin revokes anyone's.
    mod_name = client.get("/v1/auth/me", headers=bearer(moderator)).json()["name"]
    mods = client.get(f"/v1/auth/principals/{mod_name}/tokens", headers=bearer(admin)).json()
    live = [t for t in mods if t["revoked_at"] is None]
    assert len(live) == 1
    client.post(f"/v1/auth/tokens/{live[0]['id']}/revocation", headers=bearer(admin))
    assert code_of(client.get("/v1/auth/me", headers=bearer(moderator)), 401) == "token_revoked"
    # And the operator, from the command line.
    platform = make_token(Role.PLATFORM, "pf-cli")
    listing = cli("token", "list", "--name", "pf-cli")
    assert listing.exit_code == 0
    token_id = listing.stdout.split()[0]
    assert cli("token", "revoke", token_id).exit_code == 0
    assert code_of(client.get("/v1/auth/me", headers=bearer(platform)), 401) == "token_revoked"


def test_staff_tokens_expire_after_90_days(
    client: TestClient, make_token: MakeToken, moved: MovableClock
) -> None:
    reviewer = make_token(Role.LEGAL)
    platform = make_token(Role.PLATFORM)
    created = client.post("/v1/auth/tokens", headers=bearer(reviewer)).json()
    assert created["expires_at"]
    moved.offset = timedelta(days=89)
    assert client.get("/v1/auth/me", headers=bearer(reviewer)).status_code == 200
    moved.offset = timedelta(days=91)
    assert code_of(client.get("/v1/auth/me", headers=bearer(reviewer)), 401) == "token_expired"
    assert code_of(client.post("/v1/auth/tokens", headers=bearer(reviewer)), 401) == "token_expired"
    # Machines' tokens last a year.
    assert client.get("/v1/auth/me", headers=bearer(platform)).status_code == 200
    moved.offset = timedelta(days=366)
    assert code_of(client.get("/v1/auth/me", headers=bearer(platform)), 401) == "token_expired"


# -- enrolment codes ------------------------------------------------------------------


def test_an_enrolment_code_works_once_and_in_time(
    client: TestClient, make_token: MakeToken, moved: MovableClock
) -> None:
    admin = make_token(Role.ADMIN)

    def enrol(name: str) -> str:
        response = client.post(
            "/v1/auth/enrolments", json={"role": "moderator", "name": name}, headers=bearer(admin)
        )
        assert response.status_code == 201, response.text
        code: str = response.json()["code"]
        return code

    code = enrol("mod-a")
    assert client.post("/v1/auth/enrolments/redeem", json={"code": code}).status_code == 201
    reused = client.post("/v1/auth/enrolments/redeem", json={"code": code})
    assert code_of(reused, 400) == "enrolment_invalid"
    assert "rpt_" not in reused.text

    late = enrol("mod-b")
    moved.offset = timedelta(hours=73)
    expired = client.post("/v1/auth/enrolments/redeem", json={"code": late})
    assert code_of(expired, 400) == "enrolment_invalid"
    guessed = client.post("/v1/auth/enrolments/redeem", json={"code": "rpe_" + "A" * 43})
    assert code_of(guessed, 400) == "enrolment_invalid"
    # A principal still enrolling cannot be used by anyone.
    moved.offset = timedelta()
    names = {
        p["name"]: p["status"]
        for p in client.get("/v1/auth/principals", headers=bearer(admin)).json()
    }
    assert names["mod-b"] == "enrolling"


def test_proposals_expire(client: TestClient, make_token: MakeToken, moved: MovableClock) -> None:
    admin, other_admin = make_token(Role.ADMIN), make_token(Role.ADMIN)
    pid = propose(client, admin, kind="role_grant", role="auditor", name="late-auditor").json()[
        "id"
    ]
    moved.offset = timedelta(hours=73)
    late = client.post(f"/v1/auth/proposals/{pid}/confirmation", headers=bearer(other_admin))
    assert code_of(late, 409) == "proposal_closed"


# -- console logins -------------------------------------------------------------------


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


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


def console_sign_in(client: TestClient, username: str, password: str, secret: str) -> Any:
    return client.post(
        "/console/login",
        data={
            "csrf": csrf_of(client, "/console/login"),
            "username": username,
            "password": password,
            # The code of the service's (moved) clock.
            "code": pyotp.TOTP(secret).at(client.app.state.runtime.now()),  # type: ignore[attr-defined]
        },
        follow_redirects=False,
    )


def test_console_enrolment_disable_and_totp_reset(
    client: TestClient, make_token: MakeToken, runtime: Runtime, moved: MovableClock
) -> None:
    admin = make_token(Role.ADMIN)
    code = client.post(
        "/v1/auth/enrolments", json={"role": "moderator", "name": "mod-web"}, headers=bearer(admin)
    ).json()["code"]
    weak = console_enrol(client, code, "modweb", "short")
    assert weak.status_code == 422
    enrolled = console_enrol(client, code, "modweb", "a long pass phrase")
    assert enrolled.status_code == 200, enrolled.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrolled.text)
    assert secret
    assert code_of(client.post("/v1/auth/enrolments/redeem", json={"code": code}), 400) == (
        "enrolment_invalid"
    )
    person = TestClient(client.app)
    assert (
        console_sign_in(person, "modweb", "a long pass phrase", secret.group(1)).status_code == 303
    )
    assert person.get("/console/moderation").status_code == 200

    # Disabled: the session ends and sign-in fails.
    logins = client.get("/v1/auth/logins", headers=bearer(admin)).json()
    assert [(row["username"], row["status"]) for row in logins] == [("modweb", "active")]
    disabled = client.post("/v1/auth/logins/modweb/disable", headers=bearer(admin))
    assert disabled.json()["status"] == "disabled"
    assert person.get("/console/moderation", follow_redirects=False).status_code == 303
    moved.offset = timedelta(seconds=31)  # a fresh TOTP step
    again = TestClient(client.app)
    refused = console_sign_in(again, "modweb", "a long pass phrase", secret.group(1))
    assert refused.status_code == 401

    # Reset: the old second factor is dead; the reset code needs the person's password, and
    # a wrong guess spends it.
    reset = client.post("/v1/auth/logins/modweb/totp-reset", headers=bearer(admin)).json()
    assert reset["purpose"] == "totp_reset"
    guess = console_enrol(client, reset["code"], "modweb", "the admin guesses")
    assert guess.status_code == 401
    assert console_enrol(client, reset["code"], "modweb", "a long pass phrase").status_code == 400
    reset = client.post("/v1/auth/logins/modweb/totp-reset", headers=bearer(admin)).json()
    renewed = console_enrol(client, reset["code"], "modweb", "a long pass phrase")
    assert renewed.status_code == 200, renewed.text
    new_secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', renewed.text)
    assert new_secret
    assert new_secret.group(1) != secret.group(1)
    moved.offset = timedelta(seconds=62)
    old = console_sign_in(TestClient(client.app), "modweb", "a long pass phrase", secret.group(1))
    assert old.status_code == 401
    fresh = console_sign_in(
        TestClient(client.app), "modweb", "a long pass phrase", new_secret.group(1)
    )
    assert fresh.status_code == 303
    actions = {e["action"] for e in audit_actions(runtime)}
    assert {"web.login.disable", "auth.enrolment.totp_reset", "web.login.totp_set"} <= actions


def test_admins_enrol_and_confirm_grants_in_the_console(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    from factories import make_login, sign_in

    first, second = (
        make_login(runtime, "adm-one", Role.ADMIN),
        make_login(runtime, "adm-two", Role.ADMIN),
    )
    one, two = TestClient(client.app), TestClient(client.app)
    assert sign_in(one, first).status_code == 303
    assert sign_in(two, second).status_code == 303
    proposed = one.post(
        "/console/admin/enrolments",
        data={"csrf": csrf_of(one, "/console/admin"), "role": "legal", "name": "new-reviewer"},
    )
    assert "enrolment-code" not in proposed.text
    pid = re.search(r"/console/admin/proposals/(\d+)/confirm", proposed.text)
    assert pid
    own = one.post(
        f"/console/admin/proposals/{pid.group(1)}/confirm",
        data={"csrf": csrf_of(one, "/console/admin")},
    )
    assert "enrolment-code" not in own.text
    assert "Another admin" in own.text
    confirmed = two.post(
        f"/console/admin/proposals/{pid.group(1)}/confirm",
        data={"csrf": csrf_of(two, "/console/admin")},
    )
    code = re.search(r'id="enrolment-code">([^<]+)<', confirmed.text)
    part = re.search(r'id="code-part">([^<]+)<', proposed.text)
    assert code
    assert part
    assert "rpe_" not in own.text
    person = TestClient(client.app)
    enrolled = person.post(
        "/console/enrol",
        data={
            "csrf": csrf_of(person, "/console/enrol"),
            # The proposer's half first: the order of the halves does not matter.
            "code": part.group(1),
            "second_code": code.group(1),
            "username": "newrev",
            "password": "a long pass phrase",
        },
    )
    assert 'id="totp-secret"' in enrolled.text
    principals = client.get("/v1/auth/principals", headers=bearer(make_token(Role.AUDITOR)))
    assert {"name": "new-reviewer", "role": "legal", "status": "active"}.items() <= next(
        p for p in principals.json() if p["name"] == "new-reviewer"
    ).items()
    reviewer = make_login(runtime, "rev-web", Role.LEGAL)
    seen = TestClient(client.app)
    assert sign_in(seen, reviewer).status_code == 303
    listing = seen.get("/console/grants")
    assert listing.status_code == 200
    assert "new-reviewer" in listing.text
    assert "web-adm-one" in listing.text


def test_the_operator_enrols_disables_and_resets_from_the_command_line(
    client: TestClient, cli: Callable[..., Any], runtime: Runtime
) -> None:
    from factories import make_login, sign_in

    enrolled = cli("token", "enrol", "--role", "platform", "--name", "bridge-cli")
    assert enrolled.exit_code == 0, enrolled.stderr
    token = redeem(client, enrolled.stdout.strip())
    assert client.get("/v1/auth/me", headers=bearer(token)).json()["name"] == "bridge-cli"
    refused = cli("token", "enrol", "--role", "legal", "--name", "rev-cli")
    assert refused.exit_code != 0
    assert "four_eyes_required" in refused.stderr

    login = make_login(runtime, "cli-mod", Role.MODERATOR)
    assert "cli-mod" in cli("user", "list").stdout
    assert cli("user", "disable", "cli-mod").exit_code == 0
    assert sign_in(TestClient(client.app), login).status_code == 401
    reset = cli("user", "reset-totp", "cli-mod")
    assert reset.exit_code == 0
    renewed = console_enrol(client, reset.stdout.strip(), "cli-mod", login.password)
    assert renewed.status_code == 200, renewed.text
    assert "totp-secret" in renewed.text
    missing = cli("user", "disable", "nobody")
    assert missing.exit_code != 0
    assert "login_not_found" in missing.stderr


def test_two_enrolments_racing_with_one_code_make_one_login(
    client: TestClient, make_token: MakeToken, runtime: Runtime
) -> None:
    """The attacker who intercepted the invite enrols at the same moment as its owner: both
    read the code as unspent and hash their passwords with no transaction open, then both
    write. The code's conditional update lets exactly one through; the other gets nothing
    written, not even the username it chose."""
    import threading

    from rempart.auth import signin
    from rempart.auth.exceptions import EnrolmentInvalid
    from rempart.auth.signin_models import WebLogin

    admin = make_token(Role.ADMIN)
    code = client.post(
        "/v1/auth/enrolments",
        json={"role": "moderator", "name": "mod-raced"},
        headers=bearer(admin),
    ).json()["code"]
    names = ["owner", "attacker"]
    attempts = {
        name: signin.prepare_enrolment(
            runtime.engine,
            code=code,
            second_code=None,
            username=name,
            password=f"{name} pass phrase",
        )
        for name in names
    }
    both_ready = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def complete(name: str) -> None:
        both_ready.wait()
        try:
            with transaction(runtime.engine) as session:
                outcomes[name] = signin.complete_enrolment(
                    session,
                    runtime.keys,
                    attempt=attempts[name],
                    code=code,
                    second_code=None,
                    username=name,
                    password=f"{name} pass phrase",
                    now=runtime.now(),
                )
        except EnrolmentInvalid as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=complete, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [name for name in names if isinstance(outcomes[name], signin.NewLogin)]
    lost = [name for name in names if isinstance(outcomes[name], EnrolmentInvalid)]
    assert len(won) == 1
    assert len(lost) == 1
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(sa.select(WebLogin.username)).scalars().all() == won
    redeemed = [e for e in audit_actions(runtime) if e["action"] == "auth.enrolment.redeem"]
    assert len(redeemed) == 1

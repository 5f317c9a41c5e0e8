"""Lawful disclosure against the people who would break it: a police unit vouching for
itself, a suspended authority collecting what it asked for, an authority probing which
numbers have accounts, an emergency used to skip the second reviewer, a forged emergency
request, a reviewer who approves without answering the checklist.

Each test plays the attack through the HTTP API, as an outsider with its own keys would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factories import legal_world
from legal_support import (
    PDF,
    SUSPECT,
    SUSPECT_PHONE,
    URGENT_CLAIMS,
    AuthorityHandle,
    LegalWorld,
    MovableClock,
    approve,
    bearer,
    call_back,
    claims,
    confirm_proposal,
    countersign,
    redeem,
    register_authority,
    release,
    reviewer_view,
    sign,
    submit,
    validated_claims,
    verify_authority,
)
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import jws, tasks
from rempart.legal.schemas import ChecklistItem

QUESTIONS = [item.value for item in ChecklistItem]


# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def run_tasks(runtime: Runtime) -> None:
    with transaction(runtime.engine) as session:
        tasks.run_deadlines(session, runtime)


def audit_actions(world: LegalWorld) -> list[str]:
    auditor = world.make_token(Role.AUDITOR)
    items = world.client.get("/v1/audit/entries?limit=1000", headers=bearer(auditor)).json()
    return [json.loads(e["body"])["action"] for e in items["items"]]


def checks_by_name(world: LegalWorld, reference: str) -> dict[str, dict[str, Any]]:
    full = reviewer_view(world.client, reference, world.reviewers[0])
    return {c["name"]: c for c in full["checks"]}


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def approved_by_both(world: LegalWorld, reference: str) -> None:
    for reviewer in world.reviewers:
        assert approve(world.client, reference, reviewer).status_code == 201


# -- a police "validation" is signed by the validating authority itself -------------------


def police_unit(world: LegalWorld) -> tuple[AuthorityHandle, AuthorityHandle, AuthorityHandle]:
    """A prosecutor, a police unit it oversees, and an unrelated court of the same country."""
    client, admin = world.client, world.admin
    prosecutor = register_authority(
        client, admin, confirmer=world.second_admin, code="fr-parquet-lyon", kind="prosecutor"
    )
    police = register_authority(
        client,
        admin,
        confirmer=world.second_admin,
        code="fr-sr-lyon",
        kind="police",
        parent="fr-parquet-lyon",
    )
    other_court = register_authority(
        client, admin, confirmer=world.second_admin, code="fr-tj-nice", kind="court"
    )
    return prosecutor, police, other_court


def test_a_police_order_cannot_declare_its_own_judicial_validation(world: LegalWorld) -> None:
    client = world.client
    prosecutor, police, other_court = police_unit(world)
    attempts = {
        # The attack that used to pass: naming the parent, which signed nothing.
        "countersignature_missing": claims(police, validating_authority=prosecutor.code),
        # Any judge's code at all.
        "validator_not_registered": claims(police, validating_authority="fr-tj-imaginaire"),
    }
    # The police unit signs "the prosecutor's" countersignature with its own key.
    forged = claims(police, validating_authority=prosecutor.code)
    forged["validation"] = countersign(police, forged, iss=prosecutor.code)
    attempts["countersignature_wrong_signer"] = forged
    # A real countersignature, lifted from another order.
    lifted = claims(police, validating_authority=prosecutor.code)
    lifted["validation"] = countersign(prosecutor, claims(police))
    attempts["countersignature_other_order"] = lifted
    # A real court that is not the unit's registered parent.
    elsewhere = validated_claims(police, other_court)
    attempts["validator_not_parent"] = elsewhere
    for code, attempt in attempts.items():
        order = submit(client, police, sign(police, attempt))
        assert order.status_code == 201, order.text
        assert order.json()["status"] == "checks_failed", code
        checks = checks_by_name(world, order.json()["reference"])
        assert checks["validation"]["outcome"] == "failed"
        assert checks["validation"]["code"] == code
        assert checks["competence"]["code"] == code
        refused = approve(client, order.json()["reference"], world.reviewers[0])
        assert refused.status_code == 409

    genuine = submit(client, police, sign(police, validated_claims(police, prosecutor))).json()
    assert genuine["status"] == "checks_passed"
    assert genuine["validating_authority"] == prosecutor.code
    assert checks_by_name(world, genuine["reference"])["validation"]["outcome"] == "passed"


def test_the_countersignature_tools_on_the_command_line(
    world: LegalWorld, cli: Callable[..., Any], tmp_path: Path
) -> None:
    prosecutor, police, _ = police_unit(world)
    order = claims(police, validating_authority=prosecutor.code)
    for generated in ("iat", "exp", "document"):
        order.pop(generated)
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(order))
    document = tmp_path / "order.pdf"
    document.write_bytes(PDF)
    keys = {}
    for handle in (prosecutor, police):
        keys[handle.code] = tmp_path / f"{handle.code}.jwk"
        keys[handle.code].write_text(json.dumps(handle.jwk))
    countersigned = cli(
        "order",
        "countersign",
        str(order_file),
        "--issuer",
        prosecutor.code,
        "--key",
        str(keys[prosecutor.code]),
        "--document",
        str(document),
        "--out",
        str(tmp_path / "validation.jws"),
    )
    assert countersigned.exit_code == 0, countersigned.stderr
    signed = cli(
        "order",
        "sign",
        str(order_file),
        "--key",
        str(keys[police.code]),
        "--document",
        str(document),
        "--countersignature",
        str(tmp_path / "validation.jws"),
    )
    assert signed.exit_code == 0, signed.stderr
    received = submit(world.client, police, signed.stdout.strip())
    assert received.status_code == 201, received.text
    assert received.json()["status"] == "checks_passed"


def test_an_emergency_validation_comes_only_from_the_registered_parent(
    world: LegalWorld,
) -> None:
    client = world.client
    prosecutor, police, other_court = police_unit(world)
    order = submit(client, police, sign(police, claims(police, **URGENT_CLAIMS))).json()
    assert order["validation_due_at"] is not None
    now = int(datetime.now(UTC).timestamp())

    def validation(by: AuthorityHandle) -> str:
        payload = {
            "iss": by.code,
            "iat": now,
            "exp": now + 3600,
            "jti": f"validation-{by.code}",
            "validates": order["reference"],
        }
        return sign(by, payload)

    url = f"/v1/legal/orders/{order['reference']}/validation"
    for stranger in (other_court, police):
        refused = client.post(url, json={"jws": validation(stranger)}, headers=police.headers)
        assert refused.status_code == 422
    accepted = client.post(url, json={"jws": validation(prosecutor)}, headers=police.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["validated_at"] is not None


# -- an authority suspended after intake gets nothing ---------------------------------


def test_suspending_the_authority_holds_its_orders_until_reinstatement(
    world: LegalWorld,
) -> None:
    client, court, admin = world.client, world.court, world.admin
    first = submit(client, court, sign(court, claims(court))).json()["reference"]
    second = submit(client, court, sign(court, claims(court))).json()["reference"]
    approved_by_both(world, first)
    assert call_back(client, first, world.reviewers[0]).status_code == 201

    status_url = f"/v1/legal/authorities/{court.code}/status"
    suspended = client.post(status_url, json={"status": "suspended"}, headers=bearer(admin))
    assert suspended.status_code == 200
    held = reviewer_view(client, first, world.reviewers[0])
    assert held["on_hold"] == "authority_suspended"
    assert client.get(f"/v1/legal/orders/{first}", headers=court.headers).json()["on_hold"] == (
        "authority_suspended"
    )
    blocked = client.post(
        f"/v1/legal/orders/{first}/disclosure", headers=bearer(world.reviewers[1])
    )
    assert blocked.status_code == 409
    assert error_code(blocked) == "order_on_hold"
    # Review goes on meanwhile.
    assert approve(client, second, world.reviewers[0]).status_code == 201
    alerts = client.get("/v1/legal/alerts", headers=bearer(admin)).json()
    assert {(a["reference"], a["kind"]) for a in alerts} >= {
        (first, "on_hold"),
        (second, "on_hold"),
    }

    # Reinstating takes two admins, like verifying.
    alone = client.post(status_url, json={"status": "verified"}, headers=bearer(admin))
    assert error_code(alone) == "four_eyes_required"
    verify_authority(client, court.code, admin, world.second_admin)
    assert reviewer_view(client, first, world.reviewers[0])["on_hold"] is None
    released = client.post(
        f"/v1/legal/orders/{first}/disclosure", headers=bearer(world.reviewers[1])
    )
    assert released.status_code == 201, released.text

    # Suspended again after the release: the package stays where it is.
    client.post(status_url, json={"status": "suspended"}, headers=bearer(admin))
    download = client.get(f"/v1/legal/orders/{first}/disclosure", headers=court.headers)
    assert download.status_code == 409
    assert error_code(download) == "order_on_hold"
    assert SUSPECT_PHONE not in download.text
    actions = audit_actions(world)
    assert actions.count("legal.order.put_on_hold") >= 3
    assert actions.count("legal.order.hold_lifted") == 2


def test_revoking_the_key_that_signed_an_order_holds_it_for_good(world: LegalWorld) -> None:
    client, court, admin = world.client, world.court, world.admin
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    approved_by_both(world, reference)
    call_back(client, reference, world.reviewers[0])
    revoked = client.post(
        f"/v1/legal/authorities/keys/{court.jwk['kid']}/revocation", headers=bearer(admin)
    )
    assert revoked.status_code == 200
    assert reviewer_view(client, reference, world.reviewers[0])["on_hold"] == "key_revoked"
    blocked = client.post(
        f"/v1/legal/orders/{reference}/disclosure", headers=bearer(world.reviewers[0])
    )
    assert blocked.status_code == 409
    assert blocked.json()["error"]["reason"] == "key_revoked"


# -- no oracle for "does this number have an account" ----------------------------------


def test_the_authority_cannot_tell_whether_a_number_has_an_account(world: LegalWorld) -> None:
    client, court = world.client, world.court
    volatile = {"reference", "received_at", "due_at"}

    def authority_sees(phone: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        token = sign(court, claims(court, targets=[{"kind": "phone_number", "value": phone}]))
        answer = submit(client, court, token)
        assert answer.status_code == 201
        reference = answer.json()["reference"]
        later = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
        strip = lambda view: {k: v for k, v in view.items() if k not in volatile}  # noqa: E731
        return strip(answer.json()), strip(later), reference

    held, held_later, held_ref = authority_sees(SUSPECT_PHONE)
    nobody, nobody_later, nobody_ref = authority_sees("+61491570999")
    assert held == nobody
    assert held_later == nobody_later
    assert held["status"] == "checks_passed"
    listing = client.get("/v1/legal/orders", headers=court.headers).json()["items"]
    summaries = [{k: v for k, v in o.items() if k not in volatile} for o in listing]
    assert summaries[0] == summaries[1]

    # The reviewers do see it, and refuse the second on that ground: only then is the
    # authority told, by people who looked.
    assert reviewer_view(client, nobody_ref, world.reviewers[0])["targets"][0]["resolution"] == (
        "not_found"
    )
    refusal = client.post(
        f"/v1/legal/orders/{nobody_ref}/reviews",
        json={
            "decision": "refuse",
            "checklist": {item: "yes" for item in QUESTIONS},
            "reasons": "Aucun compte ne correspond à ce numéro sur la période.",
            "refusal_grounds": ["target_not_found"],
        },
        headers=bearer(world.reviewers[0]),
    )
    assert refusal.status_code == 201
    told = client.get(f"/v1/legal/orders/{nobody_ref}", headers=court.headers).json()
    assert told["refusal"]["grounds"] == ["target_not_found"]
    assert held_ref != nobody_ref


# -- emergencies: four eyes after the fact --------------------------------------------


def test_an_emergency_names_its_ground(world: LegalWorld) -> None:
    client, court = world.client, world.court
    vague = claims(court, emergency=True, emergency_justification="Urgent.")
    refused = submit(client, court, sign(court, vague))
    assert refused.status_code == 422
    assert error_code(refused) == "invalid_claims"
    made_up = claims(court, **{**URGENT_CLAIMS, "emergency_ground": "impatience"})
    assert submit(client, court, sign(court, made_up)).status_code == 422


def test_an_emergency_released_on_one_review_is_flagged_without_a_second(
    world: LegalWorld,
    runtime: Runtime,
    moved: MovableClock,
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court, **URGENT_CLAIMS))).json()[
        "reference"
    ]
    first, second = world.reviewers
    decided = approve(client, reference, first).json()
    assert decided["status"] == "approved"
    assert decided["confirmation"] == "pending"
    # The same person cannot also be the second review.
    assert approve(client, reference, first).status_code == 409
    assert release(client, reference, first).status_code == 201
    alerts = client.get("/v1/legal/alerts", headers=bearer(second)).json()
    assert (reference, "second_review_due") in {(a["reference"], a["kind"]) for a in alerts}

    moved.offset = timedelta(hours=23)
    run_tasks(runtime)
    assert reviewer_view(client, reference, first)["confirmation"] == "pending"
    moved.offset = timedelta(hours=25)
    run_tasks(runtime)
    run_tasks(runtime)
    assert audit_actions(world).count("legal.order.emergency_not_confirmed") == 1
    seen = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert seen["confirmation"] == "not_confirmed"
    for watcher in (world.admin, second):
        alerts = client.get("/v1/legal/alerts", headers=bearer(watcher)).json()
        kinds = {(a["reference"], a["kind"]) for a in alerts}
        assert (reference, "emergency_not_confirmed") in kinds
    # The quarter's figures count it (1, shown as "<5" like every small count): the
    # quarter is under way, so in its provisional view; its report comes once it ends.
    made = cli("transparency", "report", "--provisional")
    assert made.exit_code == 0, made.stderr
    view = json.loads(made.stdout)
    assert view["provisional"] is True
    figures = view["figures"]
    assert figures["countries"]["FR"]["emergency_not_confirmed"] == "<5"
    assert figures["total"]["emergency_not_confirmed"] == "<5"

    # A late second review is still recorded, and says whether the release was right.
    late = approve(client, reference, second)
    assert late.status_code == 201, late.text
    assert late.json()["confirmation"] == "confirmed"


def test_a_second_reviewer_refusing_an_emergency_stops_it_before_release(
    world: LegalWorld,
) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court, **URGENT_CLAIMS))).json()[
        "reference"
    ]
    first, second = world.reviewers
    approve(client, reference, first)
    call_back(client, reference, first)
    refusal = client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json={
            "decision": "refuse",
            "checklist": {item: "yes" for item in QUESTIONS},
            "reasons": "Rien dans l'ordonnance n'établit une menace imminente.",
            "refusal_grounds": ["incomplete_or_manifest_errors"],
        },
        headers=bearer(second),
    )
    assert refusal.status_code == 201, refusal.text
    assert refusal.json()["status"] == "refused"
    assert refusal.json()["confirmation"] == "not_confirmed"
    blocked = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(first))
    assert blocked.status_code == 409


# -- forged emergency requests: call the registered contact back ----------------------


def test_risky_orders_wait_for_a_call_back_to_the_registered_contact(
    world: LegalWorld,
) -> None:
    client, court, admin = world.client, world.court, world.admin
    first, second = world.reviewers
    # The authority's first order, then an ordinary one, then an emergency.
    opening = submit(client, court, sign(court, claims(court))).json()["reference"]
    ordinary = submit(client, court, sign(court, claims(court))).json()["reference"]
    urgent = submit(client, court, sign(court, claims(court, **URGENT_CLAIMS))).json()["reference"]
    for reference in (opening, ordinary):
        approved_by_both(world, reference)
    approve(client, urgent, first)
    assert reviewer_view(client, ordinary, first)["callback_required"] == []
    assert release(client, ordinary, first).status_code == 201
    for reference, reasons in ((opening, ["first_order"]), (urgent, ["emergency"])):
        view = reviewer_view(client, reference, first)
        assert view["callback_required"] == reasons
        blocked = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(first))
        assert error_code(blocked) == "callback_required"

    # The impostor's answer: the registered contact knows nothing of this order.
    denied = call_back(client, urgent, first, outcome="denied").json()
    [recorded] = denied["callbacks"]
    assert recorded["contact"] == f"duty-desk@{court.code}.example, +1 202 555 0142"
    assert recorded["outcome"] == "denied"
    call_back(client, urgent, second)  # a later "confirmation" does not undo a denial
    blocked = client.post(f"/v1/legal/orders/{urgent}/disclosure", headers=bearer(first))
    assert error_code(blocked) == "callback_denied"
    alerts = client.get("/v1/legal/alerts", headers=bearer(admin)).json()
    assert (urgent, "callback_denied") in {(a["reference"], a["kind"]) for a in alerts}

    # A contact changed lately is what an impostor does first: the next order is flagged.
    changed = client.put(
        f"/v1/legal/authorities/{court.code}/contact",
        json={"contact": "permanence@fr-tj-paris.example"},
        headers=bearer(admin),
    )
    assert changed.status_code == 200
    assert changed.json()["contact_changed_at"] is not None
    after = submit(client, court, sign(court, claims(court))).json()["reference"]
    assert reviewer_view(client, after, first)["callback_required"] == ["contact_changed_recently"]


def test_a_call_back_is_dated_and_needs_a_registered_contact(world: LegalWorld) -> None:
    client, admin = world.client, world.admin
    jwk = jws.generate_private_jwk("fr-tj-brest-key")
    created = client.post(
        "/v1/legal/authorities",
        json={
            "code": "fr-tj-brest",
            "name": "Tribunal judiciaire de Brest",
            "country": "FR",
            "kind": "court",
            "keys": [{"jwk": jws.public_jwk(jwk)}],
            "verified": True,
        },
        headers=bearer(admin),
    )
    assert created.status_code == 201, created.text
    confirm_proposal(client, created.json()["verification"]["id"], world.second_admin)
    token = redeem(client, created.json()["enrolment"]["code"])
    unlisted = AuthorityHandle("fr-tj-brest", token, jwk)
    reference = submit(client, unlisted, sign(unlisted, claims(unlisted))).json()["reference"]
    reviewer = world.reviewers[0]
    future = {
        "called_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "person_reached": "Greffe",
        "outcome": "confirmed",
    }
    answer = client.post(
        f"/v1/legal/orders/{reference}/callbacks", json=future, headers=bearer(reviewer)
    )
    assert answer.status_code == 422
    assert error_code(answer) == "callback_time_invalid"
    naive = {**future, "called_at": "2026-12-06T10:00:00"}
    answer = client.post(
        f"/v1/legal/orders/{reference}/callbacks", json=naive, headers=bearer(reviewer)
    )
    assert answer.status_code == 422
    # With no registered contact there is nobody to call: register one first.
    now = {**future, "called_at": datetime.now(UTC).isoformat()}
    answer = client.post(
        f"/v1/legal/orders/{reference}/callbacks", json=now, headers=bearer(reviewer)
    )
    assert answer.status_code == 422
    assert error_code(answer) == "no_registered_contact"
    # Only legal reviewers record call-backs; the authority cannot confirm itself.
    own = client.post(
        f"/v1/legal/orders/{reference}/callbacks",
        json={**future, "called_at": datetime.now(UTC).isoformat()},
        headers=unlisted.headers,
    )
    assert own.status_code == 403


# -- reviews: answered, and every decrypted read audited ------------------------------


def test_an_approval_needs_every_checklist_answer(world: LegalWorld) -> None:
    client, court = world.client, world.court
    reference = submit(client, court, sign(court, claims(court))).json()["reference"]
    lazy = client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json={"decision": "approve", "checklist": {}, "reasons": "ok"},
        headers=bearer(world.reviewers[0]),
    )
    assert lazy.status_code == 422
    assert error_code(lazy) == "checklist_incomplete"
    blank = client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json={
            "decision": "approve",
            "checklist": dict.fromkeys(QUESTIONS, ""),
            "reasons": "ok",
        },
        headers=bearer(world.reviewers[0]),
    )
    assert blank.status_code == 422
    assert reviewer_view(client, reference, world.reviewers[0])["reviews"] == []


def test_every_read_of_decrypted_targets_is_audited(world: LegalWorld) -> None:
    client, court = world.client, world.court
    target = [{"kind": "phone_number", "value": SUSPECT_PHONE}]
    reference = submit(client, court, sign(court, claims(court, targets=target))).json()[
        "reference"
    ]
    before = audit_actions(world).count("legal.order.read")
    reviewed = approve(client, reference, world.reviewers[0]).json()
    assert reviewed["targets"][0]["value"] == SUSPECT_PHONE
    called = call_back(client, reference, world.reviewers[0]).json()
    assert called["targets"][0]["value"] == SUSPECT_PHONE
    assert audit_actions(world).count("legal.order.read") == before + 2
    # The authority's own view never carries the identifier back in clear.
    seen = client.get(f"/v1/legal/orders/{reference}", headers=court.headers).json()
    assert SUSPECT_PHONE not in json.dumps(seen)
    assert SUSPECT not in json.dumps(seen)

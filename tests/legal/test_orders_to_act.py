"""Orders to act (DSA Art. 9) and TCO removal orders: received signed from a verified,
competent authority, carried out by the worker within the hour (removal) or after one
legal reviewer's confirmation (Art. 9), the content preserved encrypted for six months,
the authority and the owner told; and every way an insider or impostor could bend that."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from act_support import (
    LINK,
    PROPAGANDA,
    act_claims,
    act_deadline,
    competent,
    seed_content,
)
from factories import found, run_worker
from legal_support import (
    PDF,
    LegalWorld,
    MovableClock,
    approve,
    bearer,
    claims,
    register_authority,
    sign,
    submit,
    verify_authority,
)
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import jws
from rempart.legal.models import Order
from rempart.moderation import tasks as moderation_tasks
from rempart.moderation.models import ModerationItem
from rempart.platform.models import PlatformAction
from rempart.preservation import service as preservation
from rempart.preservation.models import PreservedEvidence
from rempart.transparency.figures import Log, dsa, quarter_of
from rempart.transparency.render import dsa_rows

ROOT = Path(__file__).parents[2]


@pytest.fixture
def world(
    legal_world: LegalWorld,
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> LegalWorld:
    legal = legal_world
    seed_content(client, platform_headers)
    run_worker(runtime)  # scanned and indexed, as content is before anyone orders it down
    return legal


def _order(client: TestClient, reference: str, token: str) -> dict[str, Any]:
    response = client.get(f"/v1/legal/orders/{reference}", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _audit(runtime: Runtime, action: str, target: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(AuditEntry.body).where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    with transaction(runtime.engine, readonly=True) as session:
        return [json.loads(b) for b in session.execute(query.order_by(AuditEntry.seq)).scalars()]


def _outbox(runtime: Runtime) -> list[dict[str, Any]]:
    path = runtime.settings.notification_outbox
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _orders_count(runtime: Runtime) -> int:
    with transaction(runtime.engine, readonly=True) as session:
        return int(session.execute(sa.select(sa.func.count(Order.id))).scalar_one())


def test_a_removal_order_is_carried_out_at_once_and_everyone_told(
    world: LegalWorld, runtime: Runtime, moved: MovableClock, cli: Callable[..., Any]
) -> None:
    client = world.client
    assert "p-propaganda" in found(client, "zorblax", "fr")
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    response = submit(client, tco, sign(tco, act_claims(tco)))
    assert response.status_code == 201, response.text
    received = response.json()
    reference = received["reference"]
    assert received["order_type"] == "removal"
    assert received["requested_categories"] == []
    assert received["act"]["outcome"] == "pending"
    # No review, no human: the worker's next round acts.
    run_worker(runtime)

    seen = _order(client, reference, tco.token)
    assert seen["status"] == "acted"
    act = seen["act"]
    assert act["outcome"] == "acted"
    assert act["deadline_missed"] is False
    assert act["minutes_to_act"] < 60
    assert act["authority_informed_at"] is not None
    assert [(i["reference"], i["action"]) for i in act["items"]] == [
        (f"{LINK}/brigade_zorblax/p-propaganda", "removed")
    ]
    # Out of search, the other post of the channel still in it.
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    assert "p-recruit" in found(client, "quillon", "fr")
    with transaction(runtime.engine, readonly=True) as session:
        item = session.execute(
            sa.select(ModerationItem).where(ModerationItem.ref == "p-propaganda")
        ).scalar_one()
        assert item.state == "removed"
        assert item.pending_review is False
        recorded = session.execute(
            sa.select(PlatformAction).where(PlatformAction.target_ref == "p-propaganda")
        ).scalar_one()
        assert (recorded.adapter, recorded.action, recorded.state) == ("local", "remove", "done")
        evidence = session.execute(sa.select(PreservedEvidence)).scalar_one()
        assert evidence.kind == "removal_order"
        assert evidence.account_ref == "u-brigade-author"
        kept = evidence.purge_after - evidence.preserved_at
        assert timedelta(days=180) < kept < timedelta(days=186)
        assert b"zorblax" not in bytes(evidence.payload_ciphertext or b"")
    with transaction(runtime.engine) as session:
        payload = preservation.read(
            session, evidence_id=evidence.id, actor="test", purpose="check", keys=runtime.keys
        )
    assert payload["post"]["text"] == PROPAGANDA  # type: ignore[index]
    assert payload["order"] == reference

    [acted] = _audit(runtime, "legal.order.acted", f"order:{reference}")
    assert acted["details"]["within_deadline"] is True
    assert acted["details"]["actions"] == {"removed": 1}
    [told] = [n for n in _outbox(runtime) if n["type"] == "authority_notice"]
    assert told["order_reference"] == reference
    assert told["items"][0]["action"] == "removed"
    # The owner hears of it, with the order's reference, at the notifier's next round.
    moved.offset = timedelta(minutes=2)
    run_worker(runtime)
    [owner] = [n for n in _outbox(runtime) if n["type"] == "disclosure_notice"]
    assert owner["user_id"] == "u-brigade-author"
    assert reference in owner["text_en"]
    assert reference in owner["text_fr"]
    assert "disclosed" not in owner["text_en"]
    # A rescan (new models, say) does not bring ordered-down content back.
    with transaction(runtime.engine) as session:
        moderation_tasks.enqueue_scan(session, entity_ids=[], post_ids=["p-propaganda"])
    run_worker(runtime)
    assert "p-propaganda" not in found(client, "zorblax", "fr")
    assert cli("audit", "verify").exit_code == 0


def test_a_removal_order_discloses_nothing_whatever_is_tried(
    world: LegalWorld, runtime: Runtime
) -> None:
    client = world.client
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    # Smuggling an information order's fields into a removal order is refused outright.
    smuggled = act_claims(
        tco,
        targets=[{"kind": "user_id", "value": "u-brigade-author"}],
        data_categories=["subscriber_data"],
    )
    refused = submit(client, tco, sign(tco, smuggled))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_claims"
    reference = submit(client, tco, sign(tco, act_claims(tco))).json()["reference"]
    reviewer = world.reviewers[0]
    for attempt in (
        client.get(f"/v1/legal/orders/{reference}/disclosure/preview", headers=bearer(reviewer)),
        client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(reviewer)),
        approve(client, reference, reviewer),
    ):
        assert attempt.status_code == 409, attempt.text
    run_worker(runtime)
    for reviewer in world.reviewers:
        approve(client, reference, reviewer)
    late = client.post(f"/v1/legal/orders/{reference}/disclosure", headers=bearer(reviewer))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "order_discloses_nothing"
    assert _audit(runtime, "legal.disclosure.released") == []


@pytest.mark.parametrize(
    ("register", "code"),
    [
        # A court registered for information orders only.
        ({"competences": []}, "authority_not_competent"),
        # Competent for Art. 9 orders, not for TCO removal orders.
        ({"competences": ["dsa_orders_to_act"]}, "authority_not_competent"),
        # Declared competent, but a second admin never verified it.
        ({"competences": ["tco_removal"], "verified": False}, "authority_not_verified"),
    ],
)
def test_a_removal_order_from_an_authority_not_competent_is_refused(
    world: LegalWorld, runtime: Runtime, register: dict[str, Any], code: str
) -> None:
    authority = register_authority(
        world.client,
        world.admin,
        code="fr-somebody",
        kind="prosecutor",
        confirmer=world.second_admin,
        **register,
    )
    before = _orders_count(runtime)
    response = submit(world.client, authority, sign(authority, act_claims(authority)))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == code
    assert _orders_count(runtime) == before
    assert [e["details"]["code"] for e in _audit(runtime, "legal.order.refused_at_intake")] == [
        code
    ]
    assert "p-propaganda" in found(world.client, "zorblax", "fr")


def test_a_forged_removal_order_is_refused(world: LegalWorld, runtime: Runtime) -> None:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    forger_key = jws.generate_private_jwk(tco.jwk["kid"])  # the right kid, the wrong key
    token = jws.sign(act_claims(tco), private_jwk=forger_key, typ="rempart-order+jwt")
    response = submit(world.client, tco, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    # Another authority's signed-in principal cannot replay a genuine one either.
    genuine = sign(tco, act_claims(tco))
    stolen = submit(world.client, world.court, genuine)
    assert stolen.status_code == 403
    assert stolen.json()["error"]["code"] == "not_your_key"
    tampered = submit(world.client, tco, genuine, document=b"%PDF-1.4 another document")
    assert tampered.status_code == 422
    assert tampered.json()["error"]["code"] == "document_hash_mismatch"
    assert _orders_count(runtime) == 0


@pytest.mark.parametrize(
    ("items", "position"),
    [
        ([{"url": f"{LINK}/brigade_zorblax/p-nowhere"}], 0),
        ([{"url": f"{LINK}/brigade_zorblax/p-propaganda"}, {"kind": "post", "id": "p-ghost"}], 1),
        ([{"url": "https://evil.example/brigade_zorblax/p-propaganda"}], 0),
        ([{"kind": "entity", "id": "ch-nowhere"}], 0),
    ],
)
def test_an_order_naming_an_item_that_does_not_exist_is_a_clear_4xx(
    world: LegalWorld, runtime: Runtime, items: list[dict[str, str]], position: int
) -> None:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    response = submit(world.client, tco, sign(tco, act_claims(tco, items=items)))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["position"]) == ("item_not_found", position)
    assert _orders_count(runtime) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"territorial_scope": ["US"]},
        {"territorial_scope": ["EU", "FR"]},
        {"territorial_scope": []},
        {"territorial_scope": ["FR", "FR"]},
        {"deadline": act_deadline(5)},  # a removal order's deadline is the law's hour
        {"order_type": "act"},  # an Art. 9 order must give its deadline
        {"items": []},
        {"offence_category": "fraud"},  # a removal order is about terrorist content
    ],
)
def test_malformed_orders_to_act_are_refused(
    world: LegalWorld, runtime: Runtime, changes: dict[str, Any]
) -> None:
    authority = competent(world, "fr-pnat", ["tco_removal", "dsa_orders_to_act"], kind="court")
    response = submit(world.client, authority, sign(authority, act_claims(authority, **changes)))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_claims"
    assert _orders_count(runtime) == 0


def test_an_order_to_act_waits_for_one_legal_confirmation_and_acts_where_it_must(
    world: LegalWorld, runtime: Runtime
) -> None:
    client = world.client
    regulator = competent(world, "fr-arcom", ["dsa_orders_to_act"], kind="court")
    claims = act_claims(
        regulator,
        order_type="act",
        legal_basis="Regulation (EU) 2022/2065, Art. 9; Code pénal, art. 421-2-5",
        items=[{"kind": "post", "id": "p-recruit"}],
        territorial_scope=["FR", "BE"],
        deadline=act_deadline(24),
        offence_category="hate_crime",
    )
    reference = submit(client, regulator, sign(regulator, claims)).json()["reference"]
    assert _order(client, reference, regulator.token)["offence_category"] == "hate_crime"
    run_worker(runtime)
    assert _order(client, reference, regulator.token)["act"]["outcome"] == "pending"
    body = {"decision": "confirm", "reasons": "Manifestly illegal in FR and BE."}
    url = f"/v1/legal/orders/{reference}/action-confirmation"
    for outsider in (regulator.token, world.make_token(Role.MODERATOR), world.admin):
        assert client.post(url, json=body, headers=bearer(outsider)).status_code == 403
    confirmed = client.post(url, json=body, headers=bearer(world.reviewers[0]))
    assert confirmed.status_code == 200, confirmed.text
    # Confirmed once; a second answer is refused.
    again = client.post(url, json=body, headers=bearer(world.reviewers[1]))
    assert again.status_code == 409
    run_worker(runtime)
    act = _order(client, reference, regulator.token)["act"]
    assert act["outcome"] == "acted"
    assert act["territorial_scope"] == ["FR", "BE"]
    assert [i["action"] for i in act["items"]] == ["geo_restricted"]
    with transaction(runtime.engine, readonly=True) as session:
        recorded = session.execute(
            sa.select(PlatformAction).where(PlatformAction.target_ref == "p-recruit")
        ).scalar_one()
        assert recorded.action == "geo_restrict"
        assert recorded.details["member_states"] == ["FR", "BE"]
        item = session.execute(
            sa.select(ModerationItem).where(ModerationItem.ref == "p-recruit")
        ).scalar_one()
        # Disabled in two Member States only: not removed from the platform.
        assert item.state != "removed"
    assert "p-recruit" not in found(client, "quillon", "fr")
    [confirmation] = _audit(runtime, "legal.order.action_confirmed", f"order:{reference}")
    assert confirmation["actor"].startswith("principal:")


def test_a_refused_order_to_act_is_never_carried_out(world: LegalWorld, runtime: Runtime) -> None:
    client = world.client
    regulator = competent(world, "fr-arcom", ["dsa_orders_to_act"], kind="court")
    claims = act_claims(regulator, order_type="act", deadline=act_deadline(24))
    reference = submit(client, regulator, sign(regulator, claims)).json()["reference"]
    refused = client.post(
        f"/v1/legal/orders/{reference}/action-confirmation",
        json={"decision": "refuse", "reasons": "The post is satire of the group, not incitement."},
        headers=bearer(world.reviewers[0]),
    )
    assert refused.status_code == 200, refused.text
    run_worker(runtime)
    seen = _order(client, reference, regulator.token)
    assert seen["status"] == "refused"
    assert seen["act"]["outcome"] == "refused"
    assert seen["refusal"]["reasons"].startswith("The post is satire")
    assert "p-propaganda" in found(client, "zorblax", "fr")


def test_a_missed_deadline_is_visible_and_audited(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    client = world.client
    regulator = competent(world, "fr-arcom", ["dsa_orders_to_act"], kind="court")
    claims = act_claims(regulator, order_type="act", deadline=act_deadline(2))
    reference = submit(client, regulator, sign(regulator, claims)).json()["reference"]
    moved.offset = timedelta(hours=3)
    run_worker(runtime)
    [overdue] = _audit(runtime, "legal.order.overdue", f"order:{reference}")
    assert overdue["actor"] == "system:worker"
    seen = _order(client, reference, regulator.token)
    assert seen["overdue"] is True
    assert seen["act"]["deadline_missed"] is True
    alerts = client.get("/v1/legal/alerts", headers=bearer(world.reviewers[0])).json()
    assert (reference, "overdue") in {(a["reference"], a["kind"]) for a in alerts}
    body = {"decision": "confirm", "reasons": "Late, still due."}
    client.post(
        f"/v1/legal/orders/{reference}/action-confirmation",
        json=body,
        headers=bearer(world.reviewers[0]),
    )
    run_worker(runtime)
    [acted] = _audit(runtime, "legal.order.acted", f"order:{reference}")
    assert acted["details"]["within_deadline"] is False
    assert _order(client, reference, regulator.token)["act"]["deadline_missed"] is True


def test_a_removal_order_the_worker_reaches_late_says_so(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    reference = submit(world.client, tco, sign(tco, act_claims(tco))).json()["reference"]
    moved.offset = timedelta(minutes=75)  # the worker was down for over an hour
    run_worker(runtime)
    assert _audit(runtime, "legal.order.overdue", f"order:{reference}")
    [acted] = _audit(runtime, "legal.order.acted", f"order:{reference}")
    assert acted["details"]["within_deadline"] is False
    assert acted["details"]["minutes_to_act"] > 60
    assert _order(world.client, reference, tco.token)["act"]["deadline_missed"] is True


def test_the_owner_is_told_only_when_the_delay_asked_for_ends(
    world: LegalWorld, runtime: Runtime, moved: MovableClock
) -> None:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    claims = act_claims(tco, delay_informing_owner=True)
    reference = submit(world.client, tco, sign(tco, claims)).json()["reference"]
    run_worker(runtime)
    moved.offset = timedelta(days=41)
    run_worker(runtime)
    assert [n for n in _outbox(runtime) if n["type"] == "disclosure_notice"] == []
    moved.offset = timedelta(weeks=6, minutes=5)
    run_worker(runtime)
    [owner] = [n for n in _outbox(runtime) if n["type"] == "disclosure_notice"]
    assert owner["order_reference"] == reference


def test_the_dsa_report_counts_orders_to_act_by_state_and_type(
    world: LegalWorld, runtime: Runtime
) -> None:
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    for _ in range(5):
        assert submit(world.client, tco, sign(tco, act_claims(tco))).status_code == 201
    run_worker(runtime)
    log = Log()
    with transaction(runtime.engine, readonly=True) as session:
        for body in session.execute(sa.select(AuditEntry.body).order_by(AuditEntry.seq)).scalars():
            log.add(json.loads(body))
    figures = dsa(log, quarter_of(runtime.now()))
    to_act = figures["orders_to_act"]
    assert to_act["total"] == 5
    assert to_act["by_order_type"]["removal"]["received"] == 5
    assert to_act["by_order_type"]["removal"]["median_hours_to_effect"] < 1
    assert to_act["by_member_state"]["FR"]["terrorism"]["received"] == 5
    assert to_act["median_hours_to_acknowledge"] == 0.0
    # The template's long form: one row per Member State or type.
    rows = dsa_rows(figures)
    assert ["orders_to_act", "ALL", "removal", "received", 5] in rows
    assert ["orders_to_act", "FR", "terrorism", "received", 5] in rows
    # Not information orders: the lawful-disclosure figures do not count them.
    assert figures["orders_to_provide_information"]["total"] == 0
    assert log.orders == {}


def test_the_authority_signs_a_removal_order_on_the_command_line(
    world: LegalWorld, runtime: Runtime, cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The documented example, signed with `rempart order sign`, is received and acted on;
    the same tool refuses a removal order that asks for data."""
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    example = yaml.safe_load((ROOT / "docs" / "examples" / "removal_order.yaml").read_text())
    example["items"] = [{"url": f"{LINK}/brigade_zorblax/p-propaganda"}]
    order_file = tmp_path / "removal.json"
    order_file.write_text(json.dumps(example))
    key_file = tmp_path / "fr-pnat.jwk"
    key_file.write_text(json.dumps(tco.jwk))
    document = tmp_path / "injonction.pdf"
    document.write_bytes(PDF)
    arguments = ("--key", str(key_file), "--document", str(document))
    signed = cli("order", "sign", str(order_file), *arguments)
    assert signed.exit_code == 0, signed.stderr
    received = submit(world.client, tco, signed.stdout.strip())
    assert received.status_code == 201, received.text
    run_worker(runtime)
    assert _order(world.client, received.json()["reference"], tco.token)["status"] == "acted"
    order_file.write_text(json.dumps({**example, "data_categories": ["subscriber_data"]}))
    refused = cli("order", "sign", str(order_file), *arguments)
    assert refused.exit_code == 1
    assert "not valid" in refused.stderr


def test_a_removal_order_waits_while_its_authority_is_suspended(
    world: LegalWorld, runtime: Runtime
) -> None:
    """Suspended after sending (a stolen key suspected, say): nothing is removed on its
    word until two admins reinstate it; then the order goes ahead."""
    client = world.client
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    reference = submit(client, tco, sign(tco, act_claims(tco))).json()["reference"]
    suspended = client.post(
        f"/v1/legal/authorities/{tco.code}/status",
        json={"status": "suspended"},
        headers=bearer(world.admin),
    )
    assert suspended.status_code == 200, suspended.text
    run_worker(runtime)
    assert _audit(runtime, "legal.order.act_held", f"order:{reference}")
    assert _order(client, reference, world.reviewers[0])["act"]["outcome"] == "pending"
    assert "p-propaganda" in found(client, "zorblax", "fr")
    verify_authority(client, tco.code, world.admin, world.second_admin)
    run_worker(runtime)
    assert _order(client, reference, tco.token)["act"]["outcome"] == "acted"
    assert "p-propaganda" not in found(client, "zorblax", "fr")


# -- intake's write transaction -----------------------------------------------------------


def test_order_documents_are_hashed_and_encrypted_with_no_write_transaction_open(
    world: LegalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 20 MB hashed then encrypted per order: not while holding SQLite's write lock
    (every API write of every process would wait), for information orders and orders to
    act alike."""
    import write_guard
    from rempart.core.crypto import KeyRing
    from rempart.legal import acts, orders

    client = world.client
    tco = competent(world, "fr-pnat-lock", ["tco_removal"], kind="prosecutor")
    noted: list[tuple[str, bool]] = []
    with write_guard.watching_writes() as watch:
        real_check, real_encrypt = orders.check_document, KeyRing.encrypt_bytes

        def check(document: bytes, **named: Any) -> None:
            noted.append(("hash", watch.holding()))
            real_check(document, **named)

        def encrypt(self: KeyRing, plaintext: bytes, *, purpose: str) -> bytes:
            if purpose == orders.DOCUMENT_PURPOSE:
                noted.append(("encrypt", watch.holding()))
            return real_encrypt(self, plaintext, purpose=purpose)

        monkeypatch.setattr(orders, "check_document", check)
        monkeypatch.setattr(acts, "check_document", check, raising=False)
        monkeypatch.setattr(KeyRing, "encrypt_bytes", encrypt)
        information = submit(client, world.court, sign(world.court, claims(world.court)))
        assert information.status_code == 201, information.text
        order = act_claims(tco)
        removal = submit(client, tco, sign(tco, order))
        assert removal.status_code == 201, removal.text
        # A replay is refused before its document is even hashed.
        replayed = submit(client, tco, sign(tco, order))
        assert replayed.json()["error"]["code"] == "replayed_token"
    assert noted == [("hash", False), ("encrypt", False)] * 2


def test_intake_s_short_write_checks_again_what_it_read(
    world: LegalWorld, runtime: Runtime
) -> None:
    """Between the read that verified a signature and the write that stores the order,
    the key may be revoked, or the same token submitted twice: the write refuses both."""
    from rempart.auth import service as auth_service
    from rempart.legal import orders
    from rempart.legal.exceptions import KeyNotUsable, ReplayedOrder
    from rempart.legal.models import AuthorityKey

    court = world.court
    with transaction(runtime.engine, readonly=True) as session:
        caller = auth_service.authenticate(session, token=court.token)

    def checked(token: str) -> orders.SealedSubmission:
        with transaction(runtime.engine, readonly=True) as session:
            read = orders.check_submission(session, caller=caller, token=token)
        return orders.seal_submission(
            read, keys=runtime.keys, settings=runtime.settings, token=token, document=PDF
        )

    def write(sealed: orders.SealedSubmission) -> Order:
        with transaction(runtime.engine) as session:
            return orders.receive_order(
                session, keys=runtime.keys, settings=runtime.settings, caller=caller, sealed=sealed
            )

    # The same order, checked twice before either is written: one is stored.
    token = sign(court, claims(court))
    first, second = checked(token), checked(token)
    write(first)
    with pytest.raises(ReplayedOrder):
        write(second)

    # The key revoked while the document was being hashed: nothing is stored.
    late = checked(sign(court, claims(court)))
    with transaction(runtime.engine) as session:
        key = session.execute(
            sa.select(AuthorityKey).where(AuthorityKey.kid == court.jwk["kid"])
        ).scalar_one()
        key.revoked_at = runtime.now()
    with pytest.raises(KeyNotUsable):
        write(late)
    assert _orders_count(runtime) == 1

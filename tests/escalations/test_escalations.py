"""Threats to life or safety (DSA Art. 18): a moderator escalates an item, Rempart
prepares the notification for the competent authority of the Member State concerned (or
Europol), a legal reviewer who is not the escalating principal confirms it, and it is sent
through the authority notifier, audited and counted in the DSA report.

The attacks: the escalating principal confirms their own notification; a moderator reads
the prepared notification's personal data; a notification carries what is not public."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import event, run_worker
from legal_support import bearer, register_authority
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.escalations import notification, service
from rempart.escalations.exceptions import OwnEscalation
from rempart.escalations.schemas import EscalationCreate
from rempart.moderation.models import ModerationItem
from rempart.platform.models import Account
from rempart.transparency import service as transparency
from rempart.transparency.figures import quarter_of

PHONE = "+61 491 570 156"
PHONE_E164 = "+61491570156"
ADDRESS = "203.0.113.77"
THREAT = "Tomorrow at 8 I bring the rifle to the Lycée Victor Hugo and nobody leaves alive."
EXPLANATION = (
    "A named school, a time and a weapon: a credible threat against pupils, posted publicly."
)


def _publish(client: TestClient, runtime: Runtime, headers: dict[str, str]) -> int:
    events = [
        event(
            "e-acc", "account.registered", user_id="u-threat", username="angry", phone_number=PHONE
        ),
        event("e-conn", "connection.seen", user_id="u-threat", ip=ADDRESS, port=51234),
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-town",
            kind="group",
            title="Town talk",
            owner_user_id="u-owner",
            member_count=40,
        ),
        event(
            "e-post",
            "post.published",
            post_id="p-threat",
            entity_id="ch-town",
            author_user_id="u-threat",
            text=THREAT,
            language="en",
        ),
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    run_worker(runtime)
    with transaction(runtime.engine, readonly=True) as session:
        item_id: int = session.execute(
            select(ModerationItem.id).where(ModerationItem.ref == "p-threat")
        ).scalar_one()
    return item_id


def _actions(runtime: Runtime, prefix: str) -> list[AuditEntry]:
    with transaction(runtime.engine, readonly=True) as session:
        return list(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action.startswith(prefix))
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def test_escalated_confirmed_by_another_reviewer_sent_audited_and_counted(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    item_id = _publish(client, runtime, platform_headers)
    admins = [make_token(Role.ADMIN), make_token(Role.ADMIN)]
    register_authority(
        client, admins[0], code="fr-tj-paris", kind="court", country="FR", confirmer=admins[1]
    )
    register_authority(
        client,
        admins[0],
        code="fr-police-paris",
        kind="police",
        country="FR",
        parent="fr-tj-paris",
        confirmer=admins[1],
    )
    moderator = bearer(make_token(Role.MODERATOR))
    reviewer = bearer(make_token(Role.LEGAL))

    created = client.post(
        "/v1/escalations",
        json={"item_id": item_id, "explanation": EXPLANATION, "victim_country": "FR"},
        headers=moderator,
    )
    assert created.status_code == 201, created.text
    escalation = created.json()
    reference = escalation["reference"]
    # The victim's Member State first, and its law enforcement before its courts.
    assert escalation["member_state"] == "FR"
    assert escalation["member_state_basis"] == "victim_location"
    assert escalation["recipient"] == "authority:fr-police-paris"
    assert escalation["state"] == "prepared"
    again = client.post(
        "/v1/escalations", json={"item_id": item_id, "explanation": EXPLANATION}, headers=moderator
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_escalated"

    # What the moderator sees names no one: no phone number, no address.
    for seen in (
        client.get(f"/v1/escalations/{reference}", headers=moderator),
        client.get("/v1/escalations", headers=moderator),
    ):
        assert seen.status_code == 200
        assert PHONE_E164 not in seen.text
        assert ADDRESS not in seen.text
    # The prepared notification, with the personal data, is not the moderator's to read,
    # nor to confirm; and no read happened, so none is audited.
    refused = client.get(f"/v1/escalations/{reference}/notification", headers=moderator)
    assert refused.status_code == 403
    assert PHONE_E164 not in refused.text
    assert client.post(f"/v1/escalations/{reference}/confirm", headers=moderator).status_code == 403
    assert _actions(runtime, "escalations.notification.read") == []
    assert not runtime.settings.authority_outbox.exists()

    read = client.get(f"/v1/escalations/{reference}/notification", headers=reviewer)
    assert read.status_code == 200
    prepared = read.json()["notification"]
    assert prepared["legal_basis"].endswith("Article 18")
    assert prepared["content"]["text"] == THREAT
    assert prepared["content"]["link"] == "https://t.example/ch-town/p-threat"
    assert prepared["suspicion"]["moderator_account"] == EXPLANATION
    assert prepared["account"]["phone_number"] == PHONE_E164
    assert [c["ip"] for c in prepared["account"]["recent_connections"]] == [ADDRESS]
    [audited_read] = _actions(runtime, "escalations.notification.read")
    assert audited_read.target == f"escalation:{reference}"
    # The audit log names the escalation, never the person's data.
    for entry in _actions(runtime, "escalations."):
        assert PHONE_E164 not in entry.body
        assert ADDRESS not in entry.body

    confirmed = client.post(f"/v1/escalations/{reference}/confirm", headers=reviewer)
    assert confirmed.status_code == 200, confirmed.text
    # Queued for the worker, which sends with no write transaction open.
    assert confirmed.json()["state"] == "confirmed"
    assert not runtime.settings.authority_outbox.exists()
    twice = client.post(
        f"/v1/escalations/{reference}/confirm", headers=bearer(make_token(Role.LEGAL))
    )
    assert twice.status_code == 409
    run_worker(runtime)
    sent = client.get(f"/v1/escalations/{reference}", headers=reviewer)
    assert sent.json()["state"] == "sent"
    assert sent.json()["sent_at"] is not None
    [line] = runtime.settings.authority_outbox.read_text().splitlines()
    delivered = json.loads(line)
    assert delivered["type"] == "dsa_art18_notification"
    assert delivered["reference"] == reference
    assert delivered["recipient"] == "authority:fr-police-paris"
    assert delivered["body"]["account"]["phone_number"] == PHONE_E164
    [audited_send] = _actions(runtime, "escalations.notification.sent")
    assert json.loads(audited_send.body)["details"]["member_state"] == "FR"

    now = datetime.now(UTC)
    with transaction(runtime.engine, readonly=True) as session:
        size = (
            session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
            .scalars()
            .first()
        )
        assert size is not None
        log = transparency.read_log(session, kind="dsa", tree_size=size + 1)
    figures = transparency.compute("dsa", log, quarter_of(now))
    assert figures["threats_to_life_notified"]["total"] == "<5"  # one, suppressed as small
    assert figures["threats_to_life_notified"]["by_member_state"] == {"FR": "<5"}


def test_europol_when_the_member_state_cannot_be_determined(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    item_id = _publish(client, runtime, platform_headers)
    # The account's number is Australian, and the content names no place in the Union.
    created = client.post(
        "/v1/escalations",
        json={"item_id": item_id, "explanation": EXPLANATION},
        headers=bearer(make_token(Role.MODERATOR)),
    )
    assert created.status_code == 201, created.text
    assert created.json()["recipient"] == "europol"
    assert created.json()["member_state"] is None
    assert created.json()["member_state_basis"] == "undetermined"
    # A legal reviewer may also decline: nothing is sent, the reason is kept.
    reviewer = bearer(make_token(Role.LEGAL))
    reference = created.json()["reference"]
    short = client.post(
        f"/v1/escalations/{reference}/decline", json={"reason": "no"}, headers=reviewer
    )
    assert short.status_code == 422
    declined = client.post(
        f"/v1/escalations/{reference}/decline",
        json={"reason": "A quotation from a film, posted in a review of it."},
        headers=reviewer,
    )
    assert declined.status_code == 200
    assert declined.json()["state"] == "declined"
    assert not runtime.settings.authority_outbox.exists()
    assert client.post(f"/v1/escalations/{reference}/confirm", headers=reviewer).status_code == 409


def test_the_accounts_member_state_when_the_victims_is_unknown() -> None:
    account = Account(user_id="u-x", phone_country="DE")
    assert notification.member_state(None, account) == ("DE", "account_country")
    assert notification.member_state("AT", account) == ("AT", "victim_location")
    # A place outside the Union says nothing of which Member State is concerned.
    assert notification.member_state("AU", account) == ("DE", "account_country")
    assert notification.member_state(None, Account(user_id="u-y", phone_country="AU")) == (
        None,
        "undetermined",
    )


def test_the_escalating_principal_cannot_confirm_even_holding_the_legal_role(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    """A principal whose role changed from moderator to legal reviewer (or who held both
    through any other path) still cannot be the second pair of eyes on their own
    escalation."""
    item_id = _publish(client, runtime, platform_headers)
    token = make_token(Role.MODERATOR, "both-hats")
    me = client.get("/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    principal_id = int(me.json()["id"])
    as_moderator = Caller(principal_id=principal_id, name="both-hats", role=Role.MODERATOR)
    as_reviewer = Caller(principal_id=principal_id, name="both-hats", role=Role.LEGAL)
    with transaction(runtime.engine) as session:
        created = service.escalate(
            session,
            keys=runtime.keys,
            settings=runtime.settings,
            caller=as_moderator,
            data=EscalationCreate(item_id=item_id, explanation=EXPLANATION),
        )
    with pytest.raises(OwnEscalation), transaction(runtime.engine) as session:
        service.confirm(session, caller=as_reviewer, reference=created.reference)
    run_worker(runtime)
    assert not runtime.settings.authority_outbox.exists()
    assert _actions(runtime, "escalations.notification.sent") == []


def test_bad_escalations_are_refused_with_a_code(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    moderator = bearer(make_token(Role.MODERATOR))
    unknown = client.post(
        "/v1/escalations", json={"item_id": 999, "explanation": EXPLANATION}, headers=moderator
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "not_escalable"
    vague = client.post(
        "/v1/escalations", json={"item_id": 1, "explanation": "bad"}, headers=moderator
    )
    assert vague.status_code == 422
    country = client.post(
        "/v1/escalations",
        json={"item_id": 1, "explanation": EXPLANATION, "victim_country": "france"},
        headers=moderator,
    )
    assert country.status_code == 422
    missing = client.get("/v1/escalations/A18-2026-000404", headers=moderator)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "escalation_not_found"
    assert client.get("/v1/escalations/whatever", headers=moderator).status_code == 422
    assert (
        client.post("/v1/escalations", json={"item_id": 1, "explanation": EXPLANATION}).status_code
        == 401
    )


def test_console_pages_keep_the_notification_from_moderators(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    from factories import csrf_of, make_login, sign_in

    item_id = _publish(client, runtime, platform_headers)
    created = client.post(
        "/v1/escalations",
        json={"item_id": item_id, "explanation": EXPLANATION},
        headers=bearer(make_token(Role.MODERATOR)),
    )
    reference = created.json()["reference"]

    assert sign_in(client, make_login(runtime, "mod-con", Role.MODERATOR)).status_code == 303
    shown = client.get(f"/console/escalations/{reference}")
    assert shown.status_code == 200
    assert PHONE_E164 not in shown.text
    assert ADDRESS not in shown.text
    assert 'id="personal-hidden"' in shown.text
    csrf = csrf_of(client, f"/console/escalations/{reference}")
    forged = client.post(f"/console/escalations/{reference}/confirm", data={"csrf": csrf})
    assert forged.status_code == 403
    assert _actions(runtime, "escalations.notification.read") == []
    form = client.get(f"/console/escalations/new?item_id={item_id}")
    assert form.status_code == 200
    assert THREAT in form.text

    client.cookies.clear()
    assert sign_in(client, make_login(runtime, "legal-con", Role.LEGAL)).status_code == 303
    read = client.get(f"/console/escalations/{reference}")
    assert read.status_code == 200
    assert PHONE_E164 in read.text
    assert len(_actions(runtime, "escalations.notification.read")) == 1
    # A reviewer's form without the page's CSRF token is refused.
    assert (
        client.post(f"/console/escalations/{reference}/confirm", data={"csrf": "x"}).status_code
        == 403
    )
    csrf = csrf_of(client, f"/console/escalations/{reference}")
    declined = client.post(
        f"/console/escalations/{reference}/decline",
        data={"csrf": csrf, "reason": "A line from a song, quoted by a fan."},
        follow_redirects=False,
    )
    assert declined.status_code == 303
    assert "declined" in client.get(f"/console/escalations/{reference}").text

"""Threat-to-life escalations (DSA Art. 18), the harder cases: two moderators escalating
one item at once, and a Member State that cannot be determined, with or without a provider
established in the Union."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from factories import run_worker
from legal_support import bearer
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.escalations import service
from rempart.escalations.models import ThreatEscalation
from rempart.escalations.schemas import EscalationCreate
from test_escalations import EXPLANATION, _publish


def test_two_moderators_escalating_one_item_at_once_make_one_escalation(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    if runtime.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: the race needs concurrent write transactions")
    item_id = _publish(client, runtime, platform_headers)
    second = bearer(make_token(Role.MODERATOR))
    token = make_token(Role.MODERATOR, "first-mod")
    principal_id = int(client.get("/v1/auth/me", headers=bearer(token)).json()["id"])
    first = Caller(principal_id=principal_id, name="first-mod", role=Role.MODERATOR)
    answers: list[int] = []
    codes: list[str] = []

    def escalate_too() -> None:
        response = client.post(
            "/v1/escalations",
            json={"item_id": item_id, "explanation": EXPLANATION},
            headers=second,
        )
        answers.append(response.status_code)
        if response.status_code == 409:
            codes.append(response.json()["error"]["code"])

    with transaction(runtime.engine) as session:
        # The first moderator's escalation is written, not yet committed, when the second
        # one's request comes in.
        service.escalate(
            session,
            keys=runtime.keys,
            settings=runtime.settings,
            caller=first,
            data=EscalationCreate(item_id=item_id, explanation=EXPLANATION),
        )
        racing = threading.Thread(target=escalate_too)
        racing.start()
        racing.join(timeout=1.0)
    racing.join(timeout=30)
    assert answers == [409]
    assert codes == ["already_escalated"]
    with transaction(runtime.engine, readonly=True) as session:
        count = session.execute(
            select(func.count())
            .select_from(ThreatEscalation)
            .where(ThreatEscalation.item_id == item_id)
        ).scalar_one()
    assert count == 1


# -- DSA Art. 18(2): the Member State concerned cannot be determined ------------------


def test_undetermined_member_state_informs_the_state_of_establishment_and_europol(
    client: TestClient,
    runtime: Runtime,
    settings: Settings,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    settings.establishment_country = "IE"
    item_id = _publish(client, runtime, platform_headers)
    # The account's number is Australian and the content names no place in the Union.
    created = client.post(
        "/v1/escalations",
        json={"item_id": item_id, "explanation": EXPLANATION},
        headers=bearer(make_token(Role.MODERATOR)),
    )
    assert created.status_code == 201, created.text
    escalation = created.json()
    assert escalation["member_state"] is None  # still not the Member State concerned
    assert escalation["member_state_basis"] == "establishment"
    assert escalation["recipient"] == "national:IE"
    reviewer = bearer(make_token(Role.LEGAL))
    reference = escalation["reference"]
    prepared = client.get(f"/v1/escalations/{reference}/notification", headers=reviewer).json()
    assert [c["id"] for c in prepared["notification"]["copies"]] == ["europol"]
    confirmed = client.post(f"/v1/escalations/{reference}/confirm", headers=reviewer)
    assert confirmed.status_code == 200, confirmed.text
    run_worker(runtime)
    lines = [json.loads(x) for x in settings.authority_outbox.read_text().splitlines()]
    assert sorted(x["recipient"] for x in lines) == ["europol", "national:IE"]
    assert {x["reference"] for x in lines} == {reference}
    with transaction(runtime.engine, readonly=True) as session:
        [body] = session.execute(
            select(AuditEntry.body).where(AuditEntry.action == "escalations.notification.sent")
        ).scalars()
    assert json.loads(body)["details"]["copies"] == ["europol"]


def test_without_an_establishment_in_the_union_europol_alone(
    client: TestClient,
    runtime: Runtime,
    settings: Settings,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    assert settings.establishment_country is None  # the default
    item_id = _publish(client, runtime, platform_headers)
    created = client.post(
        "/v1/escalations",
        json={"item_id": item_id, "explanation": EXPLANATION},
        headers=bearer(make_token(Role.MODERATOR)),
    )
    assert created.json()["recipient"] == "europol"
    assert created.json()["member_state_basis"] == "undetermined"
    reviewer = bearer(make_token(Role.LEGAL))
    reference = created.json()["reference"]
    assert client.post(f"/v1/escalations/{reference}/confirm", headers=reviewer).status_code == 200
    run_worker(runtime)
    [line] = settings.authority_outbox.read_text().splitlines()
    assert json.loads(line)["recipient"] == "europol"
    with pytest.raises(ValidationError):
        Settings(establishment_country="ireland")


# -- ports never send inside a write transaction ---------------------------------------

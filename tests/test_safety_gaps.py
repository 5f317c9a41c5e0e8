"""Threat-to-life escalations (DSA Art. 18) and hotline reports, the harder cases: two
moderators escalating one item at once, a Member State that cannot be determined with a
provider established in the Union, ports that must not send inside a write transaction,
child sexual abuse confirmed on a whole channel or account, and the suspension that
follows a hotline report."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from legal_support import bearer
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
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
            runtime.keys,
            runtime.settings,
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

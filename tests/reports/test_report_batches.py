"""Notices in batches (platforms and trusted flaggers) and the rate limits notices count
against, single or batched: what a flood of notices can and cannot do."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from factories import notice, reports_world
from rempart.auth.models import ApiToken, Principal
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.reports import tasks as reports_tasks
from rempart.reports.models import Report

# The solidarity channel and the scam, scanned (tests/factories.py).
world = reports_world
MISSING = {"url": "https://t.example/bons_plans/p-nowhere"}


def stored(runtime: Runtime) -> int:
    with transaction(runtime.engine, readonly=True) as session:
        return int(session.execute(select(func.count()).select_from(Report)).scalar_one())


def test_a_refused_notice_still_counts_against_the_public_limit(
    world: TestClient,
    runtime: Runtime,
) -> None:
    # Probing for targets that do not exist is no way around the limit.
    limit = runtime.settings.report_rate_limit
    answers = [world.post("/v1/reports", json=notice(target=MISSING)) for _ in range(limit)]
    assert {a.status_code for a in answers} == {404}
    refused = world.post("/v1/reports", json=notice())
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert stored(runtime) == 0


def test_a_batch_receives_each_notice_or_refuses_it_alone(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    batch = [
        notice(reporter=None, platform_user_id="u-batch-1"),
        notice(reporter=None, platform_user_id="u-batch-2", target=MISSING),
        notice(reporter=None, platform_user_id="u-batch-3", good_faith=False),
        notice(reporter=None, platform_user_id="u-batch-4", category="hate_speech"),
    ]
    response = world.post("/v1/reports/batch", json={"notices": batch}, headers=platform_headers)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert (receipt["received"], receipt["refused"]) == (2, 2)
    outcomes = receipt["outcomes"]
    assert [o["status"] for o in outcomes] == ["received", "refused", "refused", "received"]
    assert outcomes[1]["code"] == "target_not_found"
    assert outcomes[2]["code"] == "good_faith_required"
    assert stored(runtime) == 2
    # Each received notice is followed like a single one, and filed into its case.
    for outcome in (outcomes[0], outcomes[3]):
        status = world.get(f"/v1/reports/{outcome['tracking_id']}")
        assert status.status_code == 200
    with transaction(runtime.engine) as session:
        assert reports_tasks.file_notices(session, runtime) == 2


def test_a_batch_cannot_outrun_a_users_rate_limit(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    limit = runtime.settings.report_rate_limit
    one_user = [notice(reporter=None, platform_user_id="u-flood") for _ in range(limit + 3)]
    response = world.post("/v1/reports/batch", json={"notices": one_user}, headers=platform_headers)
    assert response.status_code == 202, response.text
    codes = [o.get("code") for o in response.json()["outcomes"]]
    assert codes == [None] * limit + ["rate_limited"] * 3
    # The same user through single requests is already over the limit.
    single = notice(reporter=None, platform_user_id="u-flood")
    assert world.post("/v1/reports", json=single, headers=platform_headers).status_code == 429
    assert stored(runtime) == limit


def test_batches_are_for_platforms_and_flaggers_and_all_or_nothing_on_bad_input(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    body = {"notices": [notice()]}
    assert world.post("/v1/reports/batch", json=body).status_code == 401
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    assert world.post("/v1/reports/batch", json=body, headers=moderator).status_code == 403
    flagger = {"Authorization": f"Bearer {make_token(Role.FLAGGER)}"}
    answer = world.post(
        "/v1/reports/batch", json={"notices": [notice(reporter=None)]}, headers=flagger
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["received"] == 1
    # One malformed notice refuses the whole request, and nothing of it is stored.
    bad = [notice(reporter=None, platform_user_id="u-ok"), {**notice(), "category": "nope"}]
    for payload in (
        {"notices": bad},
        {"notices": []},
        {"notices": [notice(reporter=None, platform_user_id="u-x")] * 501},
        {"notices": [notice(reporter=None, platform_user_id="u-y")], "extra": 1},
    ):
        refused = world.post("/v1/reports/batch", json=payload, headers=platform_headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_request"
    assert stored(runtime) == 1


def test_a_revoked_platform_token_stops_at_its_next_notice(
    world: TestClient,
    runtime: Runtime,
    make_token: Callable[[Role], str],
) -> None:
    # Authentication reads the token on every request, in no cache: a token revoked (or
    # its principal suspended) by any process, even straight in the database, sends no
    # further notice, single or batched, from the very next request.
    revoked, suspended = make_token(Role.PLATFORM), make_token(Role.PLATFORM)
    for token in (revoked, suspended):
        headers = {"Authorization": f"Bearer {token}"}
        for user in ("u-warm-1", "u-warm-2"):
            sent = notice(reporter=None, platform_user_id=f"{user}-{token[-6:]}")
            assert world.post("/v1/reports", json=sent, headers=headers).status_code == 202
    before = stored(runtime)
    with transaction(runtime.engine) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hashlib.sha256(revoked.encode()).digest())
            .values(revoked_at=runtime.now())
        )
        holder = select(ApiToken.principal_id).where(
            ApiToken.token_hash == hashlib.sha256(suspended.encode()).digest()
        )
        session.execute(
            update(Principal)
            .where(Principal.id == holder.scalar_subquery())
            .values(status="suspended")
        )
    for token, code in ((revoked, "token_revoked"), (suspended, "principal_inactive")):
        headers = {"Authorization": f"Bearer {token}"}
        single = world.post(
            "/v1/reports", json=notice(reporter=None, platform_user_id="u-after"), headers=headers
        )
        assert single.status_code == 401, single.text
        assert single.json()["error"]["code"] == code
        batch = world.post(
            "/v1/reports/batch",
            json={"notices": [notice(reporter=None, platform_user_id="u-after")]},
            headers=headers,
        )
        assert batch.status_code == 401, batch.text
        assert batch.json()["error"]["code"] == code
    assert stored(runtime) == before

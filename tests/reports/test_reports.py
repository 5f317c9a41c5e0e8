"""User notices through the public API, platforms and trusted flaggers: cases in the review
queue, raid detection, Art. 23 measures, appeals decided by a second moderator, the bot."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import (
    LINK,
    deliver,
    found,
    ingest,
    notice,
    outbox,
    reports_world,
    run_worker,
)
from factories import event as _event
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.reports.models import Report, ReportCase
from rempart.transparency import figures
from report_support import NOW, moderator, queue_refs

# The solidarity channel and the scam, scanned (tests/factories.py).
world = reports_world


def accounts(
    prefix: str, count: int, *, age: timedelta, spread: timedelta, networks: int
) -> list[dict[str, Any]]:
    """Accounts created from ``age`` to ``age + spread`` ago, each seen lately from one of
    ``networks`` /24 blocks of the benchmarking range."""
    events = []
    for i in range(count):
        user = f"{prefix}-{i}"
        created = NOW - age - spread * i / count
        events.append(_event(f"reg-{user}", "account.registered", created, user_id=user))
        events.append(
            _event(
                f"con-{user}",
                "connection.seen",
                max(created + timedelta(minutes=5), NOW - timedelta(days=1)),
                user_id=user,
                ip=f"198.18.{i % networks}.{1 + i % 250}",
            )
        )
    return events


def test_a_report_from_a_new_user_reaches_a_moderator(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    response = world.post("/v1/reports", json=notice())
    assert response.status_code == 202, response.text
    tracking = response.json()["tracking_id"]
    run_worker(runtime)  # files the notice into its case
    staff = moderator(make_token)
    assert queue_refs(world, staff, source="reports") == ["p-scam"]
    claimed = world.post("/v1/moderation/queue/claim?source=reports", headers=staff).json()
    assert claimed["ref"] == "p-scam"
    assert claimed["queue_reason"] == "user_report"
    [summary] = [s for s in claimed["signals"] if s["source"] == "reports"]
    assert "1 reports from 1 reporters" in summary["detail"]

    decided = world.post(
        "/v1/moderation/decisions",
        json={
            "item_id": claimed["id"],
            "action": "remove_content",
            "category": "scams_fraud",
            "ground_type": "illegal",
            "explanation": "Advance-fee fraud: the job does not exist.",
        },
        headers=staff,
    )
    assert decided.status_code == 201, decided.text
    statement = world.get(
        f"/v1/moderation/statements/{decided.json()['statement_puid']}", headers=staff
    ).json()
    assert statement["source_type"] == "SOURCE_ARTICLE_16"
    assert world.get(f"/v1/reports/{tracking}").json()["outcome"] == "action_taken"
    deliver(runtime)
    [told] = [m for m in outbox(runtime) if m["type"] == "report_decision"]
    assert told["email"] == "camille@example.org"
    assert told["decision"] == "remove_content"
    assert told["appeal_link"].startswith(f"{runtime.settings.public_url}/appeal#")


def test_trusted_flaggers_come_first(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    for i in range(3):
        sent = world.post(
            "/v1/reports",
            json=notice(
                reporter={"name": f"Reporter {i}", "email": f"r{i}@example.org"},
                category="terrorism",
                target={"kind": "post", "id": "p-weather"},
                explanation="I think this post is propaganda for a violent group.",
            ),
        )
        assert sent.status_code == 202, sent.text
    flagger = {"Authorization": f"Bearer {make_token(Role.FLAGGER)}"}
    sent = world.post("/v1/reports", json=notice(reporter=None, category="spam"), headers=flagger)
    assert sent.status_code == 202, sent.text
    run_worker(runtime)
    staff = moderator(make_token)
    assert queue_refs(world, staff, source="reports")[0] == "p-scam"
    claimed = world.post("/v1/moderation/queue/claim", headers=staff).json()
    assert claimed["ref"] == "p-scam"
    assert claimed["queue_reason"] == "trusted_flagger"


def test_raid_leaves_the_lawful_channel_up_and_flagged_but_not_an_organic_burst(
    world: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    ingest(
        world,
        platform_headers,
        accounts("raider", 40, age=timedelta(hours=1), spread=timedelta(minutes=30), networks=3)
        + accounts("member", 40, age=timedelta(days=90), spread=timedelta(days=900), networks=40),
    )
    for i in range(40):
        raid = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"raider-{i}",
                target={"url": f"{LINK}/solidarite_littoral"},
                category="terrorism",
                explanation=f"This channel supports illegal immigration and terrorism {i % 3}",
            ),
            headers=platform_headers,
        )
        assert raid.status_code == 202, raid.text
        organic = world.post(
            "/v1/reports",
            json=notice(
                reporter=None,
                platform_user_id=f"member-{i}",
                explanation=[
                    "Arnaque, ils m'ont demandé 50 euros et plus de nouvelles.",
                    "Fake job offer asking for a fee, my cousin lost money.",
                    "C'est une escroquerie aux frais d'inscription, à supprimer.",
                    "Scam. They never pay, it's advance-fee fraud.",
                ][i % 4]
                + f" ({i})",
            ),
            headers=platform_headers,
        )
        assert organic.status_code == 202, organic.text
    run_worker(runtime)
    with transaction(runtime.engine) as session:
        cases = {c.target_ref: c for c in session.execute(select(ReportCase)).scalars()}
    raid_case, organic_case = cases["ch-solidarity"], cases["p-scam"]
    assert raid_case.raid_suspected, raid_case.raid_signals
    assert not organic_case.raid_suspected, organic_case.raid_signals
    assert raid_case.raid_signals["thin_accounts"] == 1.0
    # Nothing was restricted by volume: the channel is still found.
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")
    staff = moderator(make_token)
    assert queue_refs(world, staff, reason="suspected_raid") == ["ch-solidarity"]
    # The genuine case is ahead of the raid in the queue.
    order = queue_refs(world, staff, source="reports")
    assert order.index("p-scam") < order.index("ch-solidarity")


def test_appeal_by_the_owner_is_decided_by_a_second_moderator_and_restores(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    sent = world.post(
        "/v1/reports",
        json=notice(
            target={"url": f"{LINK}/solidarite_littoral"},
            category="terrorism",
            explanation="This channel helps people cross the border illegally.",
        ),
    )
    assert sent.status_code == 202
    run_worker(runtime)
    first, second = moderator(make_token), moderator(make_token)
    item = world.post("/v1/moderation/queue/claim", headers=first).json()
    assert item["ref"] == "ch-solidarity"
    suspended = world.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "suspend_entity",
            "category": "terrorism",
            "explanation": "Suspended after a notice.",
        },
        headers=first,
    )
    assert suspended.status_code == 201, suspended.text
    assert "ch-solidarity" not in found(world, "solidarité littoral", "fr")
    deliver(runtime)
    [statement] = [m for m in outbox(runtime) if m["type"] == "statement_of_reasons"]
    assert statement["user_id"] == "u-admin"
    secret = statement["appeal_link"].split("#", 1)[1]

    bad = world.post("/v1/appeals", json={"secret": "x" * 32, "explanation": "We are lawful."})
    assert bad.status_code == 403
    assert bad.json()["error"]["code"] == "appeal_link_invalid"
    explanation = "We relay meal times and legal aid; nothing here is illegal."
    appeal = world.post("/v1/appeals", json={"secret": secret, "explanation": explanation})
    assert appeal.status_code == 202, appeal.text
    again = world.post("/v1/appeals", json={"secret": secret, "explanation": explanation})
    assert again.json()["error"]["code"] == "appeal_exists"
    tracking = appeal.json()["tracking_id"]

    # The first moderator can neither take nor decide the appeal.
    other = world.post("/v1/moderation/queue/claim", headers=first)
    assert other.status_code == 204 or other.json()["ref"] != "ch-solidarity"
    refused = world.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "suspend_entity",
            "category": "terrorism",
            "explanation": "I stand by it.",
        },
        headers=first,
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "second_moderator_required"

    taken = world.post("/v1/moderation/queue/claim", headers=second).json()
    assert (taken["ref"], taken["queue_reason"]) == ("ch-solidarity", "appeal")
    reversed_ = world.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "no_violation",
            "category": "terrorism",
            "explanation": "Humanitarian information, lawful.",
        },
        headers=second,
    )
    assert reversed_.status_code == 201, reversed_.text
    assert "ch-solidarity" in found(world, "solidarité littoral", "fr")
    status = world.get(f"/v1/appeals/{tracking}").json()
    assert (status["state"], status["outcome"]) == ("decided", "reversed")
    # The transparency figures count it: the entry names the appeal and its outcome.
    log = figures.Log()
    with transaction(runtime.engine, readonly=True) as session:
        for body in session.execute(select(AuditEntry.body).order_by(AuditEntry.seq)).scalars():
            log.add(json.loads(body))
    complaints = figures.dsa(log, figures.quarter_of(datetime.now(UTC)))["complaints"]
    assert (complaints["received"], complaints["decided"]) == (1, 1)
    assert complaints["by_outcome"] == {"reversed": 1}
    deliver(runtime)
    [told] = [m for m in outbox(runtime) if m["type"] == "appeal_decision"]
    assert (told["user_id"], told["outcome"]) == ("u-admin", "reversed")


def test_a_serial_false_reporter_is_warned_then_suspended(
    world: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    staff = moderator(make_token)
    false_notice = notice(
        reporter={"name": "Dominique Exemple", "email": "dominique@example.org"},
        target={"kind": "post", "id": "p-weather"},
        category="terrorism",
        explanation="This weather report is terrorist propaganda, remove it.",
    )
    for _ in range(runtime.settings.reporter_suspend_after):
        assert world.post("/v1/reports", json=false_notice).status_code == 202
        run_worker(runtime)
        item = world.post("/v1/moderation/queue/claim?source=reports", headers=staff).json()
        assert item["ref"] == "p-weather"
        decided = world.post(
            "/v1/moderation/decisions",
            json={
                "item_id": item["id"],
                "action": "no_violation",
                "category": "terrorism",
                "explanation": "A weather report.",
                "reports_unfounded": True,
            },
            headers=staff,
        )
        assert decided.status_code == 201, decided.text
    refused = world.post("/v1/reports", json=false_notice)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reporter_suspended"
    deliver(runtime)
    kinds = [m["type"] for m in outbox(runtime) if m.get("email") == "dominique@example.org"]
    assert kinds.count("reporter_warning") == 1
    assert kinds.count("reporter_suspended") == 1
    assert kinds.index("reporter_warning") < kinds.index("reporter_suspended")


def test_bot_answers_in_french_and_english(
    world: TestClient, platform_headers: dict[str, str], make_token: Callable[..., str]
) -> None:
    def say(user: str, text: str) -> dict[str, Any]:
        response = world.post(
            "/v1/reports/bot",
            json={"platform_user_id": user, "text": text},
            headers=platform_headers,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    hello = say("u-fr", "Bonjour, je veux signaler une chaîne")
    assert (hello["language"], hello["state"]) == ("fr", "asking_for_link")
    assert "lien" in hello["reply"]
    reason = say("u-fr", f"{LINK}/bons_plans/p-scam")
    assert reason["state"] == "asking_for_reason"
    assert "Pourquoi" in reason["reply"]
    done = say("u-fr", "C'est une arnaque, ils demandent des frais d'inscription")
    assert done["state"] == "reported"
    assert done["tracking_id"] in done["reply"]
    assert "enregistré" in done["reply"]

    one_go = say("u-en", f"Please remove {LINK}/bons_plans/p-scam it is a scam asking for fees")
    assert (one_go["language"], one_go["state"]) == ("en", "reported")
    assert "Thank you" in one_go["reply"]
    lost = say("u-en2", f"this is a scam {LINK}/nobody/42")
    assert lost["state"] == "asking_for_link"
    assert "cannot find" in lost["reply"]
    assert say("u-en2", "cancel")["state"] == "cancelled"
    forbidden = world.post(
        "/v1/reports/bot",
        json={"platform_user_id": "u", "text": "hi"},
        headers=moderator(make_token),
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (notice(target={"kind": "post", "id": "p-none"}), 404, "target_not_found"),
        (notice(target={"url": "https://evil.example/x"}), 422, "invalid_link"),
        (notice(target={"url": f"{LINK}/a/b/c"}), 422, "invalid_link"),
        (notice(explanation="   "), 422, "invalid_request"),
        (notice(reporter=None), 422, "reporter_required"),
        (notice(good_faith=False), 422, "good_faith_required"),
        (notice(platform_user_id="u-1"), 403, "forbidden"),
        (notice(category="jaywalking"), 422, "invalid_request"),
        (notice(surprise=1), 422, "invalid_request"),
        (notice(target={"kind": "post"}), 422, "invalid_request"),
    ],
)
def test_bad_notices_get_a_clear_4xx_and_leave_nothing(
    world: TestClient, runtime: Runtime, body: dict[str, Any], status: int, code: str
) -> None:
    response = world.post("/v1/reports", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    with transaction(runtime.engine) as session:
        assert session.execute(select(Report)).first() is None


def test_anonymous_notices_only_for_child_sexual_abuse_and_public_rate_limit(
    world: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    anonymous = notice(
        reporter=None,
        category="csam_indicators",
        explanation="This channel trades links with coded terms for abuse material.",
    )
    assert world.post("/v1/reports", json=anonymous).status_code == 202
    limit = runtime.settings.report_rate_limit
    answers = [world.post("/v1/reports", json=notice()).status_code for _ in range(limit)]
    assert answers[: limit - 1] == [202] * (limit - 1)
    assert answers[-1] == 429
    refused = world.post("/v1/reports", json=notice())
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    # The limit is the public's: a platform forwarding its users is not held by it.
    vouched = notice(reporter=None, platform_user_id="someone")
    assert world.post("/v1/reports", json=vouched, headers=platform_headers).status_code == 202


def test_an_account_posting_manifestly_illegal_content_is_warned_then_suspended(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    old = NOW - timedelta(days=30)
    events = [
        _event(
            "e-dealer",
            "entity.published",
            old,
            entity_id="ch-dealer",
            kind="channel",
            title="Livraisons",
            owner_user_id="u-dealer",
            member_count=50,
        )
    ] + [
        _event(
            f"p-d{i}",
            "post.published",
            old,
            post_id=f"deal-{i}",
            entity_id="ch-dealer",
            text=f"Vends cocaïne, 60 € le gramme, livraison rapide, lot {i}",
            language="fr",
        )
        for i in range(runtime.settings.account_suspend_after)
    ]
    ingest(client, platform_headers, events)
    run_worker(runtime)
    staff = moderator(make_token)
    for i in range(runtime.settings.account_suspend_after):
        [item] = [
            it
            for it in client.get("/v1/moderation/queue?limit=100", headers=staff).json()["items"]
            if it["ref"] == f"deal-{i}"
        ]
        decided = client.post(
            "/v1/moderation/decisions",
            json={
                "item_id": item["id"],
                "action": "remove_content",
                "category": "drug_sales",
                "ground_type": "illegal",
                "explanation": "Offer of cocaine for sale.",
                "manifestly_illegal": True,
                "version": item["version"],
            },
            headers=staff,
        )
        assert decided.status_code == 201, decided.text
    deliver(runtime)
    told = [m for m in outbox(runtime) if m.get("user_id") == "u-dealer"]
    kinds = [m["type"] for m in told if m["type"].startswith("account_")]
    assert kinds == ["account_warning", "account_suspended"]
    assert datetime.fromisoformat(told[-1]["until"]) > NOW + timedelta(days=29)

"""Safe search end to end: ingested public posts are scanned before they reach search;
clear violations leave it with a statement of reasons, doubtful ones are queued, benign
look-alikes stay; moderators claim, decide, restore or remove. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from factories import VIOLATING, event, found, run_worker
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import tasks as moderation_tasks


def test_violations_leave_search_and_lookalikes_stay(scanned: TestClient) -> None:
    client = scanned
    for query in ("beuh", "coke", "glock", "ak-47", "stream gratuit", "games streamed free"):
        assert not found(client, query) & set(VIOLATING), query
    assert "p-look-drug-fr" in found(client, "beuh lyon", "fr")
    assert "p-look-drug-en" in found(client, "coke leeds")
    assert "p-look-weapon-fr" in found(client, "pistolet permis", "fr")
    assert "p-look-piracy-en" in found(client, "watch match legally")
    assert "p-plain" in found(client, "gratin", "fr")


def test_restrictions_carry_signals_and_a_statement_of_reasons(
    scanned: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    client = scanned
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    queue = client.get("/v1/moderation/queue?limit=100", headers=moderator).json()
    by_ref = {item["ref"]: item for item in queue["items"]}
    assert set(VIOLATING) <= set(by_ref)
    weapon = by_ref["p-weapon-en"]
    assert weapon["state"] == "restricted"
    assert weapon["queue_reason"] == "auto_restrict"
    assert weapon["category"] == "weapons"
    assert any(s["source"] == "rules" and s["category"] == "weapons" for s in weapon["signals"])
    assert weapon["model_version"]
    # Priority: weapons and drugs (severity 4) come before piracy (severity 2).
    order = [item["ref"] for item in queue["items"]]
    assert order.index("p-weapon-en") < order.index("p-piracy-en")
    # The owner hears of it through the outbox, once the worker delivers statements.
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)
    notices = [
        json.loads(line) for line in runtime.settings.notification_outbox.read_text().splitlines()
    ]
    statements = [n for n in notices if n["type"] == "statement_of_reasons"]
    assert statements
    assert {n["user_id"] for n in statements} == {"u-owner"}
    payload = statements[0]["statement"]
    assert payload["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert payload["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DEMOTED"]
    assert payload["source_type"] == "SOURCE_VOLUNTARY"
    assert "u-owner" not in json.dumps(payload)


def test_moderator_decisions_restore_or_remove(
    scanned: TestClient, make_token: Callable[..., str]
) -> None:
    client = scanned
    first = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    second = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    claimed = client.post("/v1/moderation/queue/claim", headers=first).json()
    other = client.post("/v1/moderation/queue/claim", headers=second).json()
    assert claimed["id"] != other["id"]
    # Nobody else may decide an item someone holds.
    stolen = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": claimed["id"],
            "action": "no_violation",
            "category": "none",
            "explanation": "Looks fine.",
        },
        headers=second,
    )
    assert stolen.status_code == 409
    assert stolen.json()["error"]["code"] == "item_claimed"

    queue = client.get("/v1/moderation/queue?limit=100", headers=first).json()
    piracy = next(i for i in queue["items"] if i["ref"] == "p-piracy-fr")
    restored = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": piracy["id"],
            "action": "no_violation",
            "category": "piracy",
            "explanation": "Lien vers le diffuseur officiel, pas un flux pirate.",
            "version": piracy["version"],
        },
        headers=first,
    )
    assert restored.status_code == 201, restored.text
    assert restored.json()["state"] == "visible"
    assert "p-piracy-fr" in found(client, "olympique fictif", "fr")

    # The first moderator removes the item they hold.
    drug = claimed
    removed = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": drug["id"],
            "action": "remove_content",
            "category": drug["category"],
            "ground_type": "illegal",
            "explanation": "Offer to sell prohibited goods.",
        },
        headers=first,
    ).json()
    assert removed["state"] == "removed"
    assert removed["automation"] == "partially"
    statement = client.get(
        f"/v1/moderation/statements/{removed['statement_puid']}", headers=first
    ).json()
    assert statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert statement["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert statement["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert drug["category"] in {"weapons", "drug_sales"}
    remaining = client.get("/v1/moderation/queue?limit=100", headers=first).json()
    assert drug["id"] not in {i["id"] for i in remaining["items"]}

    bad = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": drug["id"],
            "action": "remove_content",
            "category": "nonsense",
            "explanation": "x",
        },
        headers=first,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_category"
    missing = client.post(
        "/v1/moderation/decisions",
        json={"item_id": 999999, "action": "no_violation", "category": "spam", "explanation": "x"},
        headers=first,
    )
    assert missing.status_code == 404
    platform = {"Authorization": f"Bearer {make_token(Role.PLATFORM)}"}
    assert client.get("/v1/moderation/queue", headers=platform).status_code == 403


def test_bank_import_rescans_posts_with_known_media(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Any,
) -> None:
    known = "ab" * 32
    events = [
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-pics",
            kind="channel",
            title="Photos",
            owner_user_id="u-owner",
            member_count=10,
        ),
        event(
            "e-p",
            "post.published",
            post_id="p-pic",
            entity_id="ch-pics",
            text="Photos du marché de Noël",
            language="fr",
            media=[{"sha256": known, "md5": "cd" * 16}],
        ),
    ]
    assert (
        client.post(
            "/v1/ingest/events", json={"events": events}, headers=platform_headers
        ).status_code
        == 200
    )
    run_worker(runtime)
    assert "p-pic" in found(client, "marché noël", "fr")

    bad = tmp_path / "bad.csv"
    bad.write_text("hash,algorithm,bank,category\nnot-a-hash,sha256,b1,weapons\n")
    refused = cli("banks", "import", str(bad))
    assert refused.exit_code == 1
    assert "invalid_bank_file" in refused.stderr

    good = tmp_path / "bank.csv"
    good.write_text(
        f"hash,algorithm,category,quality\n{known},sha256,weapons,\n{'0f' * 32},pdq,weapons,30\n"
    )
    imported = cli("banks", "import", str(good), "--bank", "partner-bank", "--source", "NGO")
    assert imported.exit_code == 0, imported.stderr
    assert "1 new, 1 skipped" in imported.stdout
    # The worker rescans the posts that carry media, and the match takes this one out.
    run_worker(runtime)
    assert "p-pic" not in found(client, "marché noël", "fr")
    again = cli("banks", "import", str(good), "--bank", "partner-bank")
    assert "0 new" in again.stdout


def test_demo_searches_for_offers_return_no_violating_post(
    cli: Callable[..., Any], client: TestClient, runtime: Runtime
) -> None:
    from rempart.demo.content import DemoSize, labelled_posts

    seeded = cli(
        "demo",
        "seed",
        "--accounts",
        "200",
        "--connections",
        "300",
        "--entities",
        "40",
        "--posts",
        "1500",
    )
    assert seeded.exit_code == 0, seeded.stderr
    run_worker(runtime)
    size = DemoSize(accounts=200, connections=300, entities=40, posts=1500)
    labels = dict(labelled_posts(size=size, now=datetime.now(UTC)))
    offers = {"drug_sales", "weapons", "piracy"}
    for query, lang in [
        ("molly", "en"),
        ("coke delivered", "en"),
        ("weed", "en"),
        ("résine livraison", "fr"),
        ("pistolets", "fr"),
        ("revolver", "fr"),
        ("guns", "en"),
        ("iptv", "en"),
        ("code iptv chaînes", "fr"),
        ("4k download", "en"),
        ("dossier partagé", "fr"),
    ]:
        hits = found(client, query, lang)
        assert not {labels.get(ref) for ref in hits} & offers, query
    lookalikes = set()
    for query in ("drug support", "sentenced guns", "legally", "police", "streaming"):
        lookalikes |= {ref for ref in found(client, query) if labels.get(ref) == "benign_lookalike"}
    assert lookalikes


def test_decisions_need_the_domains_that_act_on_them_subscribed() -> None:
    # Moderation calls reports (appeals, outcomes) and hotline through hooks they subscribe
    # to; a process that decided without them must fail, not skip the appeals it answers.
    # A fresh interpreter, because the suite has imported every domain already.
    import subprocess
    import sys

    script = (
        "from rempart.moderation import hooks\n"
        "try:\n"
        "    hooks.appeals.settled_by(None, decision_id=1)\n"
        "except hooks.NotSubscribed:\n"
        "    print('refused')\n"
        "import rempart.cli\n"
        "s = hooks._subscribers\n"
        "print(all(h is not None for h in (s.appeals, s.outcomes, s.notices, s.hotline)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["refused", "True"]

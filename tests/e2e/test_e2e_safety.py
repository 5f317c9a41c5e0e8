"""Threats to life and child sexual abuse reports in a real browser (see test_e2e.py for
the browser and the server): the moderator's escalation form, the legal reviewer's
confirmation page, and the list of hotline reports."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from factories import make_login
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.escalations import tasks as escalation_tasks
from rempart.hotline import tasks as hotline_tasks
from rempart.moderation.models import ModerationItem
from rempart.platform.media import hash_image
from test_e2e import (  # noqa: F401 - fixtures
    ACCESSIBILITY_CHECK,
    SHOTS,
    browser_page,
    pytestmark,
    server,
    sign_in,
    sign_out,
    work,
)

PHONE = "+61491570158"
ADDRESS = "203.0.113.91"
THREAT = "Demain à 8 h j'apporte le fusil au collège Jean Moulin, personne ne sortira vivant."
KNOWN = (Path(__file__).parents[1] / "fixtures" / "pdq" / "bridge-1-original.jpg").read_bytes()


def _events(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": "e-acc",
            "type": "account.registered",
            "occurred_at": "2026-01-05T09:00:00Z",
            "user_id": "u-angry",
            "phone_number": PHONE,
        },
        {
            "id": "e-conn",
            "type": "connection.seen",
            # Recent: the notification carries the connections of the last 30 days.
            "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "user_id": "u-angry",
            "ip": ADDRESS,
        },
        {
            "id": "e-ch",
            "type": "entity.published",
            "occurred_at": "2026-01-05T10:00:00Z",
            "entity_id": "ch-ville",
            "kind": "group",
            "username": "ville",
            "title": "La ville en direct",
            "owner_user_id": "u-owner",
            "member_count": 300,
        },
        *extra,
    ]


def _item_id(runtime: Runtime, ref: str) -> int:
    with transaction(runtime.engine, readonly=True) as session:
        found: int = session.execute(
            select(ModerationItem.id).where(ModerationItem.ref == ref)
        ).scalar_one()
    return found


def test_moderator_escalates_and_another_reviewer_confirms(
    server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    post = {
        "id": "e-threat",
        "type": "post.published",
        "occurred_at": "2026-01-06T10:00:00Z",
        "post_id": "p-threat",
        "entity_id": "ch-ville",
        "author_user_id": "u-angry",
        "text": THREAT,
        "language": "fr",
    }
    answer = client.post(
        "/v1/ingest/events", json={"events": _events(post)}, headers=platform_headers
    )
    assert answer.status_code == 200, answer.text
    work(runtime)
    item_id = _item_id(runtime, "p-threat")
    page = browser_page

    sign_in(page, server, make_login(runtime, "mod-esc", Role.MODERATOR))
    page.goto(f"{server}/console/moderation/items/{item_id}")
    page.get_by_role("link", name="Escalate: threat to life or safety").click()
    page.wait_for_url(f"{server}/console/escalations/new?item_id={item_id}")
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    page.screenshot(path=SHOTS / "escalation-form.png", full_page=True)
    page.get_by_label("What in the content suggests the threat").fill(
        "A named school, a time and a weapon: pupils are threatened tomorrow morning."
    )
    page.get_by_label("Country of the person threatened").fill("FR")
    page.get_by_role("button", name="Escalate").click()
    page.wait_for_url(f"{server}/console/escalations/A18-*")
    reference = page.url.rsplit("/", 1)[1]
    assert page.locator("#escalation-state").inner_text() == "prepared"
    assert page.locator("#escalation-recipient").inner_text() == "national:FR"
    # The moderator sees that the personal data exists, not the data.
    assert page.locator("#personal-hidden").count() == 1
    assert PHONE not in page.content()
    assert ADDRESS not in page.content()
    # And cannot confirm: the button is not there, and the route refuses.
    assert page.get_by_role("button", name="Confirm and send to the authority").count() == 0
    page.screenshot(path=SHOTS / "escalation-moderator.png", full_page=True)
    sign_out(page)

    sign_in(page, server, make_login(runtime, "legal-esc", Role.LEGAL))
    page.goto(f"{server}/console/escalations")
    page.screenshot(path=SHOTS / "escalation-list.png", full_page=True)
    page.get_by_role("link", name=reference).click()
    prepared = page.locator("#prepared-notification").inner_text()
    assert PHONE in prepared
    assert ADDRESS in prepared
    assert "Article 18" in prepared
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    page.screenshot(path=SHOTS / "escalation-reviewer.png", full_page=True)
    page.get_by_role("button", name="Confirm and send to the authority").click()
    page.wait_for_url(f"{server}/console/escalations/{reference}")
    # Confirmed and queued: the worker sends it outside any write transaction.
    assert page.locator("#escalation-state").inner_text() == "confirmed"
    assert escalation_tasks.run(runtime) == 1
    page.reload()
    assert page.locator("#escalation-state").inner_text() == "sent"
    [line] = runtime.settings.authority_outbox.read_text().splitlines()
    assert json.loads(line)["reference"] == reference


def test_hotline_reports_are_listed_without_any_media(
    server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Any,
    tmp_path: Path,
) -> None:
    bank = tmp_path / "bank.csv"
    bank.write_text(f"hash,algorithm,category\n{hash_image(KNOWN).pdq},pdq,csam_indicators\n")
    assert cli("banks", "import", str(bank), "--bank", "ncmec-like").exit_code == 0
    post = {
        "id": "e-pic",
        "type": "post.published",
        "occurred_at": "2026-01-06T10:00:00Z",
        "post_id": "p-pic",
        "entity_id": "ch-ville",
        "author_user_id": "u-angry",
        "media": [{"image_base64": base64.b64encode(KNOWN).decode()}],
    }
    answer = client.post(
        "/v1/ingest/events", json={"events": _events(post)}, headers=platform_headers
    )
    assert answer.status_code == 200, answer.text
    work(runtime)
    # The worker sends hotline reports every few seconds; now, here.
    assert hotline_tasks.run(runtime) == 1
    page = browser_page
    sign_in(page, server, make_login(runtime, "mod-hot", Role.MODERATOR))
    page.locator("#main").get_by_role(
        "link", name="Reports to the child-protection hotline"
    ).click()
    page.wait_for_url(f"{server}/console/hotline")
    rows = page.locator("#hotline-reports tbody tr")
    assert rows.count() == 1
    assert "hash match" in rows.first.inner_text()
    assert "sent" in rows.first.inner_text()
    assert page.locator("img").count() == 0
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    page.screenshot(path=SHOTS / "hotline-reports.png", full_page=True)
    # From the list to the item: a blurred preview, and the original only on request.
    page.locator("#hotline-reports a").first.click()
    [preview] = page.locator("img").all()
    assert "Blurred" in (preview.get_attribute("alt") or "")
    page.screenshot(path=SHOTS / "hotline-item-blurred.png", full_page=True)

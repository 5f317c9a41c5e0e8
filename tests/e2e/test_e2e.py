"""End-to-end flows in a real browser: Debian's Chromium (/usr/bin/chromium, headless),
driven by Playwright, against the app served on loopback. Screenshots of each page go to
test-artifacts/screenshots/.

`scripts/ensure-chromium.sh` installs the browser (CI runs it); without it these tests skip,
unless REMPART_TEST_REQUIRE_BROWSER=1 says they must run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn

from factories import make_login
from rempart.app import create_app
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.legal.schemas import ChecklistItem
from rempart.moderation import tasks as moderation_tasks
from rempart.reports import tasks as reports_tasks
from rempart.worker import Worker

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("REMPART_TEST_REQUIRE_BROWSER") != "1",
        reason="Debian's Chromium is not installed (scripts/ensure-chromium.sh)",
    ),
]


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(100):
        if served.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # Loopback only: none of Chromium's own calls home (updates, sync, metrics).
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
        yield context.new_page()
        browser.close()


def work(runtime: Runtime) -> None:
    """What the worker does in the background, now: scans, filing, deliveries."""
    worker = Worker(runtime)
    while worker.tick():
        pass
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)
        reports_tasks.deliver(session, runtime)


def publish(client: Any, headers: dict[str, str], post_text: str) -> None:
    events = [
        {
            "id": "e-ch",
            "type": "entity.published",
            "occurred_at": "2026-01-05T10:00:00Z",
            "entity_id": "ch-airsoft",
            "kind": "channel",
            "username": "club_airsoft",
            "title": "Club airsoft de Nantes",
            "owner_user_id": "u-club",
            "member_count": 900,
        },
        {
            "id": "e-post",
            "type": "post.published",
            "occurred_at": "2026-01-06T10:00:00Z",
            "post_id": "p-replica",
            "entity_id": "ch-airsoft",
            "text": post_text,
            "language": "fr",
        },
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text


_used_steps: dict[str, int] = {}


def fresh_code(login: Any) -> str:
    """A TOTP code not used before: each is accepted once, and the next time step's code is
    accepted too (clock drift), so a second sign-in within 30 s takes that one."""
    used = _used_steps.get(login.username, -1)
    step = max(int(time.time()) // 30, used + 1)
    while step > int(time.time()) // 30 + 1:
        # Two steps ahead would be refused: wait for the next time step, and never reuse
        # the step just used (a replay, refused too).
        time.sleep(30 - time.time() % 30 + 0.5)
        step = max(int(time.time()) // 30, used + 1)
    _used_steps[login.username] = step
    return str(pyotp.TOTP(login.totp_secret).at(step * 30))


def sign_in(page: Any, server: str, login: Any) -> None:
    page.goto(f"{server}/console/login")
    page.get_by_label("Username").fill(login.username)
    page.get_by_label("Password").fill(login.password)
    page.get_by_label("6-digit code").fill(fresh_code(login))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/console")


def test_moderator_restores_a_wrongly_restricted_post(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    publish(client, platform_headers, "Vends Glock 17 réplique airsoft, pas de papiers à fournir")
    work(runtime)
    assert "p-replica" not in {h["ref"] for h in client.get("/v1/search?q=glock").json()["items"]}
    login = make_login(runtime, "mod", Role.MODERATOR)
    page = browser_page
    sign_in(page, server, login)
    page.goto(f"{server}/console/moderation")
    page.screenshot(path=SHOTS / "moderation-queue.png", full_page=True)
    page.get_by_role("link", name="post:p-replica").click()
    page.screenshot(path=SHOTS / "moderation-item.png", full_page=True)
    assert page.locator("#state").inner_text() == "restricted"
    page.keyboard.press("n")  # the "no violation" shortcut
    page.get_by_label("Statement of reasons").fill("An airsoft replica, legal to sell.")
    page.get_by_role("button", name="Decide").click()
    # Back to the queue, or on to the next item held for this moderator (the channel
    # itself may be waiting for review): either way the decision is flashed.
    page.wait_for_url(re.compile(rf"{re.escape(server)}/console/moderation(/items/\d+)?\?.*done="))
    if "/items/" in page.url:
        assert "done=no_violation+visible" in page.url
        assert page.locator("#decided-before").is_visible()
    else:
        assert "no_violation visible" in page.content()
    assert "p-replica" in {h["ref"] for h in client.get("/v1/search?q=glock").json()["items"]}


def test_public_files_a_notice_and_later_an_appeal(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    publish(client, platform_headers, "Rendez-vous samedi au gymnase pour la partie mensuelle")
    work(runtime)
    page = browser_page
    page.goto(f"{server}/report")
    page.screenshot(path=SHOTS / "notice-form.png", full_page=True)
    page.get_by_label("Link to the public post").fill("https://t.example/club_airsoft/p-replica")
    page.get_by_label("What is wrong").select_option("weapons")
    page.get_by_label("Why it is illegal").fill("They sell weapons at this meeting, I believe.")
    page.get_by_label("Your name").fill("Camille Exemple")
    page.get_by_label("Your email address").fill("camille@example.org")
    page.get_by_label("I confirm").check()
    page.get_by_role("button", name="Send").click()
    tracking = page.locator("#tracking").inner_text()
    page.screenshot(path=SHOTS / "notice-received.png", full_page=True)
    assert len(tracking) >= 8

    work(runtime)
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    item = client.post("/v1/moderation/queue/claim?source=reports", headers=moderator).json()
    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "no_violation",
            "category": "weapons",
            "explanation": "A meeting announcement; nothing is sold.",
        },
        headers=moderator,
    )
    assert decided.status_code == 201, decided.text
    work(runtime)
    outbox = runtime.settings.notification_outbox.read_text().splitlines()
    [notice] = [json.loads(m) for m in outbox if json.loads(m)["type"] == "report_decision"]
    link = notice["appeal_link"].replace(runtime.settings.public_url, server)

    page.goto(link)
    assert page.get_by_label("Appeal code").input_value() == link.split("#", 1)[1]
    page.get_by_label("Why the decision is wrong").fill("Weapons were offered at the last one.")
    page.screenshot(path=SHOTS / "appeal-form.png", full_page=True)
    page.get_by_role("button", name="Send").click()
    appeal_tracking = page.locator("#tracking").inner_text()
    page.screenshot(path=SHOTS / "appeal-received.png", full_page=True)
    status = client.get(f"/v1/appeals/{appeal_tracking}").json()
    assert status["state"] == "open"
    page.goto(f"{server}/report/status/{tracking}")
    # In words, not field names and codes.
    assert page.locator("#outcome").inner_text() == "no action: no violation found"
    assert page.locator("#outcome").get_attribute("data-value") == "no_action"
    assert page.get_by_text("What you reported").count() == 1
    page.goto(f"{server}/report/status/{tracking}?lang=fr")
    assert page.locator("#outcome").inner_text().startswith("aucune mesure")


def test_without_the_legal_role_an_order_stays_closed(
    server: str, browser_page: Any, client: Any, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    login = make_login(runtime, "mod3", Role.MODERATOR)
    page = browser_page
    sign_in(page, server, login)
    answer = page.goto(f"{server}/console/legal/orders/FR-2026-0001")
    assert answer is not None
    assert answer.status == 403
    page.screenshot(path=SHOTS / "order-forbidden.png", full_page=True)
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    api = client.get("/v1/legal/orders/FR-2026-0001", headers=moderator)
    assert api.status_code == 403
    page.goto(f"{server}/disclosure?lang=fr")
    page.screenshot(path=SHOTS / "disclosure-fr.png", full_page=True)
    assert "Jamais le contenu des messages" in page.content()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()


def test_two_reviewers_approve_and_the_authority_downloads(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    tmp_path: Path,
) -> None:
    from legal_support import PDF, claims, legal_world, sign

    world = legal_world(client, make_token, platform_headers)
    court = world.court
    signed = tmp_path / "order.jws"
    signed.write_text(sign(court, claims(court)))
    document = tmp_path / "order.pdf"
    document.write_bytes(PDF)
    authority = make_login(runtime, "paris", Role.AUTHORITY, f"authority:{court.code}")
    first = make_login(runtime, "legal1", Role.LEGAL)
    second = make_login(runtime, "legal2", Role.LEGAL)
    page = browser_page

    sign_in(page, server, authority)
    page.goto(f"{server}/console/portal")
    page.screenshot(path=SHOTS / "portal.png", full_page=True)
    page.get_by_label("Signed order").set_input_files(str(signed))
    page.get_by_label("Order document").set_input_files(str(document))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{server}/console/portal/orders/*")
    reference = page.url.rsplit("/", 1)[1]
    sign_out(page)

    for reviewer in (first, second):
        sign_in(page, server, reviewer)
        page.goto(f"{server}/console/legal/orders")
        page.get_by_role("link", name=reference).click()
        page.get_by_label("Approve").check()
        page.get_by_label("Reasons").fill("Competent court, suspect named, proportionate.")
        # The checklist starts unanswered: the form cannot go until each question is.
        page.get_by_role("button", name="Submit review").click()
        assert page.url.endswith(f"/console/legal/orders/{reference}")
        assert page.locator("#checklist select:invalid").count() == len(ChecklistItem)
        for item in ChecklistItem:
            page.locator(f"#check_{item.value}").select_option("yes")
        page.screenshot(path=SHOTS / f"order-review-{reviewer.username}.png", full_page=True)
        page.get_by_role("button", name="Submit review").click()
        page.wait_for_url(f"{server}/console/legal/orders/{reference}")
        if reviewer is first:
            # One approval is not enough: the four-eyes rule shows, and holds.
            assert "Approvals: 1 / 2" in page.locator("#four-eyes").inner_text()
            assert page.get_by_role("link", name="Preview the disclosure").count() == 0
            sign_out(page)
    assert page.locator("#status").inner_text() == "approved"
    # The authority's first order: a call-back to its registered contact comes first.
    assert "first_order" in page.locator("#callback-needed").inner_text()
    page.get_by_label("Called at (UTC)").fill(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Person reached").fill("Greffier de permanence")
    page.get_by_label("confirmed").check()
    page.get_by_role("button", name="Record the call-back").click()
    page.wait_for_url(f"{server}/console/legal/orders/{reference}")
    page.get_by_role("link", name="Preview the disclosure").click()
    page.screenshot(path=SHOTS / "disclosure-preview.png", full_page=True)
    assert "203.0.113." in page.content() or "198.51.100." in page.content()
    # Release cannot be taken back: the browser will not send it unconfirmed.
    page.get_by_role("button", name="Release to the authority").click()
    assert page.locator("input[name=confirm]:invalid").count() == 1
    page.get_by_label("I have checked that this package holds only").check()
    page.get_by_role("button", name="Release to the authority").click()
    page.wait_for_url(f"{server}/console/legal/orders/{reference}")
    assert page.locator("#status").inner_text() == "disclosed"
    sign_out(page)

    sign_in(page, server, authority)
    page.goto(f"{server}/console/portal/orders/{reference}")
    page.get_by_role("link", name="Download the disclosure package").click()
    page.screenshot(path=SHOTS / "disclosure-package.png", full_page=True)
    assert reference in page.content()
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download the signed package (JSON)").click()
    assert downloading.value.suggested_filename == f"disclosure-{reference}.json"


def test_a_refused_order_shows_its_reasons_in_the_portal(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
) -> None:
    from legal_support import claims, legal_world, sign, submit

    world = legal_world(client, make_token, platform_headers)
    court = world.court
    sent = submit(client, court, sign(court, claims(court)))
    assert sent.status_code == 201, sent.text
    reference = sent.json()["reference"]
    reviewer = make_login(runtime, "legal3", Role.LEGAL)
    page = browser_page
    sign_in(page, server, reviewer)
    page.goto(f"{server}/console/legal/orders/{reference}")
    page.get_by_label("Refuse").check()
    # A refusal documents the analysis too: every question answered.
    for item in ChecklistItem:
        page.locator(f"#check_{item.value}").select_option("no")
    page.get_by_label("target not shown to be suspect").check()
    page.get_by_label("Reasons").fill("Nothing shows the account holder is a suspect.")
    page.get_by_role("button", name="Submit review").click()
    page.wait_for_url(f"{server}/console/legal/orders/{reference}")
    assert page.locator("#status").inner_text() == "refused"
    sign_out(page)

    authority = make_login(runtime, "paris2", Role.AUTHORITY, f"authority:{court.code}")
    sign_in(page, server, authority)
    page.goto(f"{server}/console/portal/orders/{reference}")
    page.screenshot(path=SHOTS / "portal-refused.png", full_page=True)
    refusal = page.locator("#refusal").inner_text()
    assert "target_not_shown_to_be_suspect" in refusal
    assert "Nothing shows the account holder is a suspect." in refusal


ACCESSIBILITY_CHECK = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.closest("label") || el.getAttribute("aria-label");
    if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name}`);
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("image without alt");
  }
  for (const button of document.querySelectorAll("button")) {
    if (!button.textContent.trim() && !button.getAttribute("aria-label")) {
      problems.push("empty button");
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push("wider than the screen");
  }
  return problems;
}"""


def test_main_pages_are_accessible_at_phone_width(
    server: str, browser_page: Any, runtime: Runtime
) -> None:
    login = make_login(runtime, "a11y", Role.MODERATOR)
    page = browser_page
    public = [
        "/",
        "/report",
        "/appeal",
        "/disclosure",
        "/transparency",
        "/transparency/FR",
        "/console/login",
    ]
    for path in public:
        page.goto(f"{server}{path}")
        assert page.evaluate(ACCESSIBILITY_CHECK) == [], path
        page.screenshot(path=SHOTS / f"page{path.replace('/', '-') or '-home'}.png", full_page=True)
    # Keyboard: the first Tab lands on a visible link, and focus shows.
    page.goto(f"{server}/report")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.tagName")
    assert focused == "A"
    sign_in(page, server, login)
    page.goto(f"{server}/console/moderation")
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    # At phone width a table scrolls sideways and keeps its header row beside its cells.
    header = page.locator("table thead th").nth(1).bounding_box()
    first_header = page.locator("table thead th").first.bounding_box()
    assert header is not None
    assert first_header is not None
    # Side by side, not stacked one above the other as blocks.
    assert abs(header["y"] - first_header["y"]) < 2
    assert header["x"] > first_header["x"]


def test_moderator_uses_a_preset_notes_escalates_and_moves_on(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
) -> None:
    publish(client, platform_headers, "Vends Glock 17 réplique airsoft, pas de papiers à fournir")
    work(runtime)
    login = make_login(runtime, "mod-tools", Role.MODERATOR, "Alex Moderator")
    page = browser_page
    # A CSP that blocked the page's own script would show here.
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if message.type == "error" else None
    )
    sign_in(page, server, login)
    page.goto(f"{server}/console/moderation?category=weapons")
    page.get_by_role("button", name="Claim next").click()
    page.wait_for_url(f"{server}/console/moderation/items/*?category=weapons")

    page.get_by_label("Note", exact=True).fill(
        "Airsoft replica; ask legal whether the ad itself is lawful."
    )
    page.get_by_label("Escalate to legal").check()
    page.get_by_role("button", name="Add the note").click()
    page.wait_for_url("**done=escalated")
    assert "Escalated to the legal team." in page.content()

    page.keyboard.press("n")  # the "no violation" shortcut
    page.get_by_label("Statement template").select_option("no_violation_context")
    statement = page.get_by_label("Statement of reasons")
    # The script wrote the preset's text; the moderator adds a sentence of their own.
    assert "breaks neither the law nor the Terms of Service" in statement.input_value()
    statement.press("End")
    statement.type(" A replica sold to club members.")
    page.screenshot(path=SHOTS / "moderation-item-preset.png", full_page=True)
    page.get_by_role("button", name="Decide").click()
    # Nothing else waits in this view: back to its list, which says so.
    page.wait_for_url(f"{server}/console/moderation?category=weapons&done=*")
    assert page.locator("#view-empty").is_visible()

    with transaction(runtime.engine) as session:
        from sqlalchemy import select

        from rempart.moderation.models import ModerationItem

        item_id = session.execute(
            select(ModerationItem.id).where(ModerationItem.ref == "p-replica")
        ).scalar_one()
    page.goto(f"{server}/console/moderation/items/{item_id}/timeline")
    rows = page.locator("#timeline tbody tr")
    kinds = [rows.nth(i).get_attribute("class") for i in range(rows.count())]
    # The scan's automated restriction, the escalation, then the moderator's decision.
    assert kinds == ["tl-decision", "tl-escalation", "tl-decision"]
    assert "automated" in rows.nth(0).inner_text()
    assert "Alex Moderator" in rows.nth(2).inner_text()
    assert "A replica sold to club members." in rows.nth(2).inner_text()
    page.screenshot(path=SHOTS / "moderation-timeline.png", full_page=True)

    page.goto(f"{server}/console/moderation/settings")
    page.get_by_label("Blur of previews").select_option("3")
    page.get_by_label("Warn me after").fill("5")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**done=saved")
    assert page.get_by_label("Blur of previews").input_value() == "3"
    assert page.get_by_label("Warn me after").input_value() == "5"
    assert not [text for text in refused if "Content Security Policy" in text], refused

    legal = make_login(runtime, "legal-esc", Role.LEGAL)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, legal)
    page.get_by_role("navigation", name="console").get_by_role("link", name="Escalations").click()
    assert "ask legal whether the ad itself is lawful" in page.locator("#escalations").inner_text()
    assert "Alex Moderator" in page.locator("#escalations").inner_text()

"""The moderators' tools beside the queue, through the console's pages: a subject's
timeline, internal notes and escalations to legal, statement-of-reasons presets, Art. 23
marks, moving on after a decision, and each reviewer's wellbeing settings."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from factories import csrf_of, make_login, sign_in
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime

SCAM_NOTICE = "This post asks for registration fees for a fake job: a classic scam."
APPEAL_TEXT = "It really is a scam, they took my money."


def _browser(client: TestClient, runtime: Runtime, username: str, role: Role) -> TestClient:
    browser = TestClient(client.app, raise_server_exceptions=False)
    assert (
        sign_in(browser, make_login(runtime, username, role, f"{username}-name")).status_code == 303
    )
    return browser


def _reported_scam(client: TestClient, runtime: Runtime, headers: dict[str, str]) -> None:
    from factories import notice, platform_world, run_worker

    platform_world(client, headers)
    run_worker(runtime)
    assert client.post("/v1/reports", json=notice()).status_code == 202
    run_worker(runtime)


def _claim(browser: TestClient, **filters: str) -> str:
    claimed = browser.post(
        "/console/moderation/claim",
        data={"csrf": csrf_of(browser, "/console/moderation"), **filters},
        follow_redirects=False,
    )
    assert claimed.status_code == 303
    assert "/items/" in claimed.headers["location"], claimed.headers["location"]
    return str(claimed.headers["location"].split("?", 1)[0].rsplit("/", 1)[1])


def _decide(browser: TestClient, item_id: str, **fields: str) -> Any:
    return browser.post(
        f"/console/moderation/items/{item_id}/decide",
        data={"csrf": csrf_of(browser, f"/console/moderation/items/{item_id}"), **fields},
        follow_redirects=False,
    )


def _appeal_as_reporter(client: TestClient, runtime: Runtime) -> None:
    from factories import deliver, outbox

    deliver(runtime)
    [told] = [m for m in outbox(runtime) if m["type"] == "report_decision"]
    secret = told["appeal_link"].split("#", 1)[1]
    appeal = {"secret": secret, "explanation": APPEAL_TEXT}
    assert client.post("/v1/appeals", json=appeal).status_code == 202


def test_the_timeline_lists_notices_decisions_appeals_and_notes_in_order(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    _reported_scam(client, runtime, platform_headers)
    first = _browser(client, runtime, "tl-first", Role.MODERATOR)
    item_id = _claim(first, reason="user_report")
    decided = _decide(
        first,
        item_id,
        action="no_violation",
        category="scams_fraud",
        explanation="Looks like a genuine job offer.",
    )
    assert decided.status_code == 303
    _appeal_as_reporter(client, runtime)
    second = _browser(client, runtime, "tl-second", Role.MODERATOR)
    noted = second.post(
        f"/console/moderation/items/{item_id}/notes",
        data={
            "csrf": csrf_of(second, "/console/moderation"),
            "text": "Same wording as last week's fake recruiter.",
        },
        follow_redirects=False,
    )
    assert noted.status_code == 303

    item_page = second.get(f"/console/moderation/items/{item_id}").text
    assert f'href="/console/moderation/items/{item_id}/timeline"' in item_page
    queue_page = second.get("/console/moderation?reason=appeal").text
    assert f'href="/console/moderation/items/{item_id}/timeline"' in queue_page
    account = re.search(r'href="(/console/moderation/accounts/timeline\?user=[^"]+)"', item_page)
    assert account

    page = second.get(f"/console/moderation/items/{item_id}/timeline")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    rows = re.findall(r'<tr class="tl-([a-z_]+)">(.*?)</tr>', page.text, re.S)
    kinds = [kind for kind, _ in rows]
    assert kinds == ["notice", "decision", "appeal", "note"]
    cells = {kind: html.unescape(row) for kind, row in rows}
    assert SCAM_NOTICE in cells["notice"]
    assert "tl-first-name" in cells["decision"]
    assert "Looks like a genuine job offer." in cells["decision"]
    assert APPEAL_TEXT in cells["appeal"]
    assert "tl-second-name" in cells["note"]
    # The notice's sender is known to Rempart but never to moderators.
    assert "Camille" not in page.text
    assert "camille@example.org" not in page.text

    by_account = second.get(html.unescape(account.group(1)))
    assert by_account.status_code == 200
    assert SCAM_NOTICE in html.unescape(by_account.text)
    assert "u-seller" in by_account.text
    assert second.get("/console/moderation/accounts/timeline?user=<script>").status_code == 404
    # Not for a legal reviewer, nor an authority.
    legal = _browser(client, runtime, "tl-legal", Role.LEGAL)
    assert legal.get(f"/console/moderation/items/{item_id}/timeline").status_code == 403


def test_notes_stay_internal_and_escalations_reach_legal(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    from factories import deliver, outbox

    _reported_scam(client, runtime, platform_headers)
    moderator = _browser(client, runtime, "esc-mod", Role.MODERATOR)
    item_id = _claim(moderator, reason="user_report")
    csrf = csrf_of(moderator, "/console/moderation")
    note = "Recruiter scam: the legal team should see whether a prosecutor asked about it."
    escalated = moderator.post(
        f"/console/moderation/items/{item_id}/notes",
        data={"csrf": csrf, "text": note, "escalate": "yes"},
        follow_redirects=False,
    )
    assert escalated.status_code == 303
    assert escalated.headers["location"].endswith("done=escalated")
    # A careless moderator pastes a phone number: refused, nothing stored.
    pasted = moderator.post(
        f"/console/moderation/items/{item_id}/notes",
        data={"csrf": csrf, "text": "Call them on +61 491 570 156 to check."},
    )
    assert pasted.status_code == 422
    # A forged form (no session-bound token) adds nothing.
    forged = moderator.post(
        f"/console/moderation/items/{item_id}/notes", data={"csrf": "x" * 64, "text": "forged"}
    )
    assert forged.status_code == 403

    legal = _browser(client, runtime, "esc-legal", Role.LEGAL)
    assert 'href="/console/legal/escalations"' in legal.get("/console").text
    view = legal.get("/console/legal/escalations")
    assert view.status_code == 200
    assert view.headers["cache-control"] == "no-store"
    assert note in html.unescape(view.text)
    assert "esc-mod-name" in view.text
    assert "+61 491 570 156" not in view.text
    assert "forged" not in view.text
    # Moderators and authorities do not see the legal team's view, nor close escalations.
    assert moderator.get("/console/legal/escalations").status_code == 403
    [note_id] = re.findall(r'action="/console/legal/escalations/(\d+)/close"', view.text)
    stolen = moderator.post(
        f"/console/legal/escalations/{note_id}/close",
        data={"csrf": csrf, "text": "closed by a moderator"},
    )
    assert stolen.status_code == 403
    closed = legal.post(
        f"/console/legal/escalations/{note_id}/close",
        data={
            "csrf": csrf_of(legal, "/console/legal/escalations"),
            "text": "No order about it; keep it.",
        },
        follow_redirects=False,
    )
    assert closed.status_code == 303
    after = legal.get("/console/legal/escalations").text
    assert 'id="no-escalations"' in after
    again = legal.post(
        f"/console/legal/escalations/{note_id}/close",
        data={"csrf": csrf_of(legal, "/console/legal/escalations"), "text": "twice"},
    )
    assert again.status_code == 404
    timeline = moderator.get(f"/console/moderation/items/{item_id}/timeline").text
    assert "No order about it; keep it." in html.unescape(timeline)

    # Audited, without the note's text.
    auditor = _browser(client, runtime, "esc-auditor", Role.AUDITOR)
    log = html.unescape(auditor.get("/console/audit").text)
    assert "moderation.escalated" in log
    assert "moderation.escalation.closed" in log
    assert "legal team should see" not in log

    # Never shown to the people the decision concerns.
    decided = _decide(
        moderator,
        item_id,
        action="remove_content",
        category="scams_fraud",
        explanation="A fake job asking for fees.",
    )
    assert decided.status_code == 303
    deliver(runtime)
    told = "\n".join(str(m) for m in outbox(runtime))
    assert "legal team should see" not in told
    assert "No order about it" not in told


def _preset_texts(page: str, preset_id: str) -> dict[str, str]:
    select = page.split(f'id="{preset_id}"', 1)[1].split("</select>", 1)[0]
    return {
        key: html.unescape(text)
        for key, text in re.findall(r'<option value="([a-z_]+)"[^>]*data-text="([^"]*)"', select)
    }


def test_a_preset_reaches_the_owner_in_their_language_and_must_fit_the_decision(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    from factories import deliver, outbox
    from rempart.moderation import presets

    _reported_scam(client, runtime, platform_headers)
    moderator = _browser(client, runtime, "preset-mod", Role.MODERATOR)
    item_id = _claim(moderator, reason="user_report")
    english = _preset_texts(moderator.get(f"/console/moderation/items/{item_id}").text, "preset")
    french = _preset_texts(
        moderator.get(f"/console/moderation/items/{item_id}?lang=fr").text, "preset"
    )
    assert set(english) == set(presets.all_presets()) == set(french)
    assert english["scam_fees"] != french["scam_fees"]
    assert "escroquerie" in french["scam_fees"]
    moderator.get("/console/moderation?lang=en")

    # A preset of another category would tell the owner the wrong reason: refused.
    wrong = _decide(
        moderator,
        item_id,
        action="remove_content",
        category="scams_fraud",
        preset="weapons_sale",
        explanation=english["weapons_sale"],
    )
    assert wrong.status_code == 422
    assert "preset" in wrong.text
    restricting_no = _decide(
        moderator,
        item_id,
        action="no_violation",
        category="scams_fraud",
        preset="scam_fees",
        explanation=english["scam_fees"],
    )
    assert restricting_no.status_code == 422
    # The moderator works in English and leaves the preset as it is; the owner's post is
    # in French, so their statement of reasons is in French.
    decided = _decide(
        moderator,
        item_id,
        action="remove_content",
        category="scams_fraud",
        preset="scam_fees",
        explanation=english["scam_fees"],
    )
    assert decided.status_code == 303, decided.text
    deliver(runtime)
    [statement] = [m for m in outbox(runtime) if m["type"] == "statement_of_reasons"]
    assert statement["statement"]["incompatible_content_explanation"] == french["scam_fees"]
    # The moderator's history keeps what they wrote.
    history = html.unescape(moderator.get(f"/console/moderation/items/{item_id}").text)
    assert english["scam_fees"] in history


def test_an_edited_preset_is_sent_as_written(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    from factories import deliver, outbox

    _reported_scam(client, runtime, platform_headers)
    moderator = _browser(client, runtime, "preset-bulk", Role.MODERATOR)
    english = _preset_texts(moderator.get("/console/moderation").text, "bulk-preset")
    item_id = _claim(moderator, reason="user_report")
    edited = english["scam_fees"] + " The same offer was posted in three other channels."
    decided = _decide(
        moderator,
        item_id,
        action="remove_content",
        category="scams_fraud",
        preset="scam_fees",
        explanation=edited,
    )
    assert decided.status_code == 303
    deliver(runtime)
    [statement] = [m for m in outbox(runtime) if m["type"] == "statement_of_reasons"]
    assert statement["statement"]["incompatible_content_explanation"] == edited


@pytest.mark.usefixtures("scanned")
def test_bulk_decisions_take_presets(client: TestClient, runtime: Runtime) -> None:
    moderator = _browser(client, runtime, "preset-many", Role.MODERATOR)
    ids = re.findall(r'name="item" value="(\d+)"', moderator.get("/console/moderation").text)
    # A bulk decision with a preset and no text of its own (a browser without script):
    # the preset's text in the console's language.
    others = ids[:2]
    done = moderator.post(
        "/console/moderation/bulk",
        data={
            "csrf": csrf_of(moderator, "/console/moderation?lang=fr"),
            "item": others,
            "action": "no_violation",
            "category": "spam",
            "preset": "no_violation_checked",
            "explanation": "",
        },
        follow_redirects=False,
    )
    assert done.headers["location"].endswith(f"done={len(others)}+decided,+0+skipped")
    french = _preset_texts(moderator.get("/console/moderation").text, "bulk-preset")
    page = html.unescape(moderator.get(f"/console/moderation/items/{others[0]}").text)
    assert french["no_violation_checked"] in page
    mismatch = moderator.post(
        "/console/moderation/bulk",
        data={
            "csrf": csrf_of(moderator, "/console/moderation"),
            "item": ids[-1:],
            "action": "remove_content",
            "category": "spam",
            "preset": "no_violation_checked",
            "explanation": "",
        },
        follow_redirects=False,
    )
    assert mismatch.headers["location"].endswith("done=0+decided,+1+skipped")


def test_art23_marks_in_the_decision_form_count_against_reporter_or_account(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    from sqlalchemy import select

    from rempart.core.db import transaction
    from rempart.reports.models import AccountStanding, Reporter

    _reported_scam(client, runtime, platform_headers)
    moderator = _browser(client, runtime, "art23-mod", Role.MODERATOR)
    item_id = _claim(moderator, reason="user_report")
    page = moderator.get(f"/console/moderation/items/{item_id}").text
    assert 'name="reports_unfounded"' in page
    assert 'name="manifestly_illegal"' in page
    # A mark the action cannot carry is refused, not dropped without a word.
    for action, mark in (
        ("remove_content", "reports_unfounded"),
        ("no_violation", "manifestly_illegal"),
    ):
        refused = _decide(
            moderator,
            item_id,
            action=action,
            category="scams_fraud",
            explanation="A fake job asking for fees.",
            **{mark: "yes"},
        )
        assert refused.status_code == 422, action
        assert "manifest" in refused.text
    with transaction(runtime.engine) as session:
        assert session.execute(select(Reporter.unfounded)).scalars().all() == [0]
    decided = _decide(
        moderator,
        item_id,
        action="no_violation",
        category="scams_fraud",
        explanation="A genuine job offer; the notice was a competitor's.",
        reports_unfounded="yes",
    )
    assert decided.status_code == 303
    with transaction(runtime.engine) as session:
        assert session.execute(select(Reporter.unfounded)).scalars().all() == [0 + 1]
        assert session.get(AccountStanding, "u-seller") is None

    # Reported again, decided as manifestly illegal this time: counted against the owner.
    from factories import notice, run_worker

    assert (
        client.post(
            "/v1/reports",
            json=notice(reporter={"name": "Dominique Exemple", "email": "dominique@example.org"}),
        ).status_code
        == 202
    )
    run_worker(runtime)
    again = _claim(moderator, reason="user_report")
    assert again == item_id
    decided = _decide(
        moderator,
        item_id,
        action="remove_content",
        category="scams_fraud",
        explanation="A fake job asking for fees.",
        manifestly_illegal="yes",
    )
    assert decided.status_code == 303, decided.text
    with transaction(runtime.engine) as session:
        standing = session.get(AccountStanding, "u-seller")
        assert standing is not None
        assert standing.manifestly_illegal == 1


@pytest.mark.usefixtures("scanned")
def test_after_a_decision_the_next_item_of_the_same_view_opens(
    client: TestClient, runtime: Runtime
) -> None:
    moderator = _browser(client, runtime, "next-mod", Role.MODERATOR)
    in_view = set(
        re.findall(
            r'name="item" value="(\d+)"', moderator.get("/console/moderation?category=weapons").text
        )
    )
    assert len(in_view) >= 2
    outside = set(
        re.findall(r'name="item" value="(\d+)"', moderator.get("/console/moderation").text)
    )
    assert outside - in_view, "the test needs items outside the view"
    claimed = moderator.post(
        "/console/moderation/claim",
        data={"csrf": csrf_of(moderator, "/console/moderation"), "category": "weapons"},
        follow_redirects=False,
    )
    location = claimed.headers["location"]
    assert location.endswith("?category=weapons")
    item_page = moderator.get(location).text
    assert 'name="view_category" value="weapons"' in item_page
    assert 'href="/console/moderation?category=weapons" id="back-to-queue"' in item_page
    seen = []
    while True:
        item_id = location.split("?", 1)[0].rsplit("/", 1)[1]
        assert item_id in in_view
        seen.append(item_id)
        decided = moderator.post(
            f"/console/moderation/items/{item_id}/decide",
            data={
                "csrf": csrf_of(moderator, location),
                "action": "no_violation",
                "category": "spam",
                "explanation": "Checked: no violation.",
                "view_category": "weapons",
                "then_next": "yes",
            },
            follow_redirects=False,
        )
        assert decided.status_code == 303
        location = decided.headers["location"]
        if "/items/" not in location:
            break
        assert "category=weapons" in location
        assert 'id="decided-before"' in moderator.get(location).text
    # Every item of the view, each once, and then the queue says the view is empty.
    assert sorted(seen) == sorted(in_view)
    assert location.startswith("/console/moderation?category=weapons")
    assert 'id="view-empty"' in moderator.get(location).text
    # Items outside the view were left alone.
    left = set(re.findall(r'name="item" value="(\d+)"', moderator.get("/console/moderation").text))
    assert outside - in_view <= left
    # Without "then next", the decision leads back to the view's list.
    other = sorted(outside - in_view)[0]
    back = moderator.post(
        f"/console/moderation/items/{other}/decide",
        data={
            "csrf": csrf_of(moderator, "/console/moderation"),
            "action": "no_violation",
            "category": "spam",
            "explanation": "Checked: no violation.",
            "version": re.search(
                r'name="version" value="(\d+)"',
                moderator.get(f"/console/moderation/items/{other}").text,
            ).group(1),  # type: ignore[union-attr]
        },
        follow_redirects=False,
    )
    assert back.headers["location"].startswith("/console/moderation?done=")


def test_wellbeing_settings_blur_greyscale_and_a_daily_exposure_counter(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from factories import publish_known_image

    publish_known_image(client, runtime, platform_headers, cli, tmp_path)
    moderator = _browser(client, runtime, "calm-mod", Role.MODERATOR)
    colleague = _browser(client, runtime, "calm-colleague", Role.MODERATOR)
    settings_page = moderator.get("/console/moderation/settings")
    assert settings_page.status_code == 200
    assert settings_page.headers["cache-control"] == "no-store"
    assert re.search(r'id="revealed-today">0<', settings_page.text)
    csrf = csrf_of(moderator, "/console/moderation/settings")
    for bad in (
        {"blur_level": "9", "daily_reveal_cap": "2"},
        {"blur_level": "1", "daily_reveal_cap": "-1"},
    ):
        refused = moderator.post("/console/moderation/settings", data={"csrf": csrf, **bad})
        assert refused.status_code == 422
    forged = moderator.post(
        "/console/moderation/settings",
        data={"csrf": "f" * 64, "blur_level": "0", "daily_reveal_cap": "0"},
    )
    assert forged.status_code == 403
    saved = moderator.post(
        "/console/moderation/settings",
        data={"csrf": csrf, "blur_level": "3", "greyscale": "yes", "daily_reveal_cap": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303

    item_id = _claim(moderator, source="hash")
    item_page = moderator.get(f"/console/moderation/items/{item_id}").text
    [media_id] = re.findall(r'id="media-(\d+)" class="blur-3"', item_page)
    assert 'id="exposure" class="muted"' in item_page
    # The colleague kept the defaults.
    assert 'class="blur-1"' in colleague.get(f"/console/moderation/items/{item_id}").text

    revealed = moderator.post(
        f"/console/moderation/media/{media_id}/reveal",
        data={"csrf": csrf, "reason": "The preview is too blurred to confirm the bank match."},
    )
    assert revealed.status_code == 200
    assert 'class="grey"' in revealed.text
    # The cap is one reveal a day: reached with this one, and said so at once.
    assert 'id="exposure-after" class="error"' in revealed.text
    assert re.search(r'id="revealed-today">1<', moderator.get("/console/moderation/settings").text)
    assert (
        'id="exposure" class="error"' in moderator.get(f"/console/moderation/items/{item_id}").text
    )
    # Counted per reviewer.
    assert re.search(r'id="revealed-today">0<', colleague.get("/console/moderation/settings").text)

    # The reveal is on the item's timeline, with who revealed it and why.
    timeline = html.unescape(moderator.get(f"/console/moderation/items/{item_id}/timeline").text)
    [row] = re.findall(r'<tr class="tl-reveal">(.*?)</tr>', timeline, re.S)
    assert "calm-mod-name" in row
    assert "too blurred to confirm" in row


@pytest.mark.usefixtures("scanned")
def test_item_states_and_queue_reasons_read_in_french(client: TestClient, runtime: Runtime) -> None:
    moderator = _browser(client, runtime, "fr-mod", Role.MODERATOR)
    french = moderator.get("/console/moderation?lang=fr").text
    rows = re.findall(
        r'name="item" value="\d+".*?</td><td>.*?</td><td>([^<]*)</td><td>([^<]*)</td>', french
    )
    assert rows
    for state, reason in rows:
        assert state in {"visible", "en attente", "restreint", "retiré", "suspendu"}, state
        assert "_" not in reason, reason
    assert "automatique : restreint" in french
    assert '<option value="auto_restrict">automatique : restreint</option>' in french
    item_id = re.findall(r'name="item" value="(\d+)"', french)[0]
    item = moderator.get(f"/console/moderation/items/{item_id}").text
    state = re.search(r'<strong id="state">([^<]*)</strong>', item)
    assert state
    assert state.group(1) in {"en attente", "restreint"}

"""Forms that must not decide for the person filling them: no category is chosen until
someone chooses one, for a notice, a decision or a bulk decision."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from factories import csrf_of, make_login, sign_in
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime


def _selected(html: str, select_id: str) -> list[str]:
    select = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b', select)


def test_the_notice_form_preselects_no_category(client: TestClient) -> None:
    form = client.get("/report")
    assert _selected(form.text, "category") == [""]


@pytest.mark.usefixtures("scanned")
def test_a_bulk_decision_without_a_category_decides_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    assert sign_in(client, make_login(runtime, "bulk-nocat", Role.MODERATOR)).status_code == 303
    listing = client.get("/console/moderation?source=rules")
    assert _selected(listing.text, "bulk-category") == [""]
    ids = re.findall(r'name="item" value="(\d+)"', listing.text)
    assert ids
    item = client.get(f"/console/moderation/items/{ids[0]}")
    assert "Choose the category" in item.text
    csrf = csrf_of(client, "/console/moderation")
    for category in ("", "nonsense"):
        answer = client.post(
            "/console/moderation/bulk",
            data={
                "csrf": csrf,
                "item": ids[:2],
                "action": "remove_content",
                "category": category,
                "explanation": "Offers of drugs for sale.",
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert answer.headers["location"].endswith("done=no+category+chosen")
    still = re.findall(
        r'name="item" value="(\d+)"', client.get("/console/moderation?source=rules").text
    )
    assert set(ids[:2]) <= set(still)


def test_the_audit_viewer_reads_newest_first_with_names_filters_and_details(
    client: TestClient, runtime: Runtime
) -> None:
    from rempart.audit import service as audit

    make_login(runtime, "aud-first", Role.MODERATOR)
    auditor = make_login(runtime, "aud-view", Role.AUDITOR)
    audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)
    assert sign_in(client, auditor).status_code == 303
    log = client.get("/console/audit")
    seqs = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", log.text)]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) >= 3
    # The sign-in just made is at the top, its actor shown by name.
    assert "web.login.signed_in" in log.text.split("</tr>", 2)[1] or "web-aud-view" in log.text
    assert "<details>" in log.text
    logins = client.get("/console/audit?action=web.login.")
    actions = re.findall(r"<td>(web\.login\.[a-z_.]+)</td>", logins.text)
    assert actions
    assert len(actions) == len(re.findall(r"<tr><td>\d+</td>", logins.text))
    # Verifying keeps the entries and the filter on the page.
    csrf = csrf_of(client, "/console/audit")
    verdict = client.post("/console/audit/verify?action=web.login.", data={"csrf": csrf})
    assert "The log verifies" in verdict.text
    assert re.findall(r"<td>(web\.login\.[a-z_.]+)</td>", verdict.text) == actions
    # Junk in the query string is ignored, not an error.
    assert client.get("/console/audit?before=99999999999999999999&action=%27").status_code == 200


def test_browsers_get_bad_input_and_unknown_pages_as_pages(
    client: TestClient, runtime: Runtime
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml"}
    assert sign_in(client, make_login(runtime, "adm-forms", Role.ADMIN)).status_code == 303
    csrf = csrf_of(client, "/console/admin")
    bad_name = client.post(
        "/console/admin/enrolments",
        data={"csrf": csrf, "role": "flagger", "name": "<script>"},
        headers=browser,
    )
    assert bad_name.status_code == 422
    assert bad_name.headers["content-type"].startswith("text/html")
    assert "name" in bad_name.text
    assert "<header>" in bad_name.text
    missing = client.get("/console/nowhere", headers=browser)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    # API clients keep their JSON with a machine-readable code.
    api = client.post("/console/admin/enrolments", data={"csrf": csrf, "role": "flagger"})
    assert api.status_code == 422
    assert api.json()["error"]["code"] == "invalid_request"
    assert client.get("/v1/nowhere", headers=browser).json()["error"]["code"] == "not_found"


@pytest.mark.usefixtures("scanned")
def test_the_queue_pages_and_claims_within_its_filters(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rempart.web import moderation_pages

    monkeypatch.setattr(moderation_pages, "QUEUE_PAGE", 2)
    assert sign_in(client, make_login(runtime, "pager", Role.MODERATOR)).status_code == 303
    first = client.get("/console/moderation?source=rules")
    ids = re.findall(r'name="item" value="(\d+)"', first.text)
    assert len(ids) == 2
    following = re.search(r'<a href="([^"]+)" rel="next"', first.text)
    assert following
    assert "source=rules" in following.group(1)
    second = client.get(following.group(1).replace("&amp;", "&"))
    assert set(re.findall(r'name="item" value="(\d+)"', second.text)).isdisjoint(ids)

    item = client.get(f"/console/moderation/items/{ids[0]}").text
    assert 'id="back-to-queue"' in item
    assert 'id="console-nav"' in item
    category = re.search(r'<option value="([a-z_]+)" selected>', item)
    assert category
    csrf = csrf_of(client, "/console/moderation")
    claimed = client.post(
        "/console/moderation/claim",
        data={"csrf": csrf, "category": category.group(1)},
        follow_redirects=False,
    )
    assert claimed.status_code == 303
    shown = client.get(claimed.headers["location"]).text
    assert re.search(rf'<option value="{category.group(1)}" selected>', shown)
    nothing = client.post(
        "/console/moderation/claim",
        data={"csrf": csrf, "category": "no_such_category"},
        follow_redirects=False,
    )
    assert nothing.headers["location"].endswith("done=empty")


@pytest.mark.usefixtures("scanned")
def test_the_decision_form_decides_nothing_by_itself_and_speaks_french(
    client: TestClient, runtime: Runtime
) -> None:
    assert sign_in(client, make_login(runtime, "mod-fr", Role.MODERATOR)).status_code == 303
    listing = client.get("/console/moderation?source=rules")
    first = re.findall(r'name="item" value="(\d+)"', listing.text)[0]
    item = client.get(f"/console/moderation/items/{first}?lang=fr").text
    form = item.split('name="action"', 1)[1].split("</fieldset>", 1)[0]
    assert "checked" not in form
    assert "Retirer de la recherche" in item
    assert "Remove from search" not in item


@pytest.mark.usefixtures("scanned")
def test_saved_views_count_their_items_and_the_queue_sorts_by_age_or_reach(
    client: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    assert sign_in(client, make_login(runtime, "viewer", Role.MODERATOR)).status_code == 303
    listing = client.get("/console/moderation")
    views = dict(
        re.findall(r'href="/console/moderation\?reason=([a-z_]+)">[^<(]+\((\d+)\)', listing.text)
    )
    assert set(views) == {
        "user_report",
        "trusted_flagger",
        "appeal",
        "suspected_raid",
        "auto_review",
    }
    for reason, count in views.items():
        shown = client.get(f"/console/moderation?reason={reason}").text
        assert f"({int(count)})" in shown
        heading = re.search(r"<h1>[^<]*\((\d+)\)</h1>", shown)
        assert heading
        assert heading.group(1) == count
    assert re.search(r"<td>\d+ h</td>", listing.text)
    for order in ("oldest", "reach", "nonsense"):
        sorted_page = client.get(f"/console/moderation?order={order}")
        assert sorted_page.status_code == 200
        assert len(re.findall(r'name="item" value="(\d+)"', sorted_page.text)) == len(
            re.findall(r'name="item" value="(\d+)"', listing.text)
        )
    headers = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    api = client.get("/v1/moderation/queue?order=oldest", headers=headers)
    waits = [item["queued_at"] for item in api.json()["items"]]
    assert waits == sorted(waits)
    assert client.get("/v1/moderation/queue?order=random", headers=headers).status_code == 422

"""The legal team's console and the authority portal, through HTTP as a browser drives
them: what needs action comes first, the whole order on one page, a release that must be
confirmed, a package that can be downloaded as signed JSON, and pages that stay out of
frames and caches."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from factories import csrf_of, legal_world, make_login, sign_in
from legal_support import (
    PDF,
    URGENT_CLAIMS,
    LegalWorld,
    approve,
    call_back,
    claims,
    sign,
    submit,
)
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import jws

pytestmark = pytest.mark.xdist_group("legal-console")


# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def _send(world: LegalWorld, **changes: Any) -> str:
    sent = submit(world.client, world.court, sign(world.court, claims(world.court, **changes)))
    assert sent.status_code == 201, sent.text
    return str(sent.json()["reference"])


def _refuse(world: LegalWorld, reference: str) -> None:
    body = {
        "decision": "refuse",
        "checklist": {k: "no" for k in _questions()},
        "reasons": "Not proportionate.",
        "refusal_grounds": ["disproportionate"],
    }
    answer = world.client.post(
        f"/v1/legal/orders/{reference}/reviews",
        json=body,
        headers={"Authorization": f"Bearer {world.reviewers[0]}"},
    )
    assert answer.status_code == 201, answer.text


def _questions() -> list[str]:
    from rempart.legal.schemas import ChecklistItem

    return [item.value for item in ChecklistItem]


def _rows(html: str) -> list[str]:
    body = html.split('id="order-list"', 1)[1]
    return re.findall(r'<a href="/console/legal/orders/([^"]+)">', body)


def test_needs_action_first_and_closed_orders_are_never_overdue(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    closed = _send(world)
    _refuse(world, closed)
    ordinary = _send(world)
    urgent = _send(world, **URGENT_CLAIMS)
    assert sign_in(client, make_login(runtime, "legal-list", Role.LEGAL)).status_code == 303

    listing = client.get("/console/legal/orders")
    assert listing.status_code == 200
    # The emergency is due within hours, the ordinary order within days: it comes first,
    # highlighted; the refused order, although received first, comes last.
    assert _rows(listing.text) == [urgent, ordinary, closed]
    closed_row = listing.text.split(f">{closed}</a>", 1)[1].split("</tr>", 1)[0]
    assert "overdue" not in closed_row
    assert "due in" not in closed_row
    assert 'class="emergency"' in listing.text.split(f">{urgent}</a>", 1)[0].rsplit("<tr", 1)[1]

    refused = client.get("/console/legal/orders?status=refused")
    assert _rows(refused.text) == [closed]
    assert _rows(client.get("/console/legal/orders?authority=fr-tj-paris").text) == [
        urgent,
        ordinary,
        closed,
    ]
    assert _rows(client.get("/console/legal/orders?country=de").text) == []
    # A filter that cannot match anything is dropped, not answered with a raw error.
    odd = client.get("/console/legal/orders?status=nonsense&country=FRA&authority=%3Cx%3E")
    assert odd.status_code == 200
    assert len(_rows(odd.text)) == 3

    api = client.get(
        "/v1/legal/orders?country=FR&authority=fr-tj-paris",
        headers={"Authorization": f"Bearer {world.reviewers[0]}"},
    )
    assert [o["reference"] for o in api.json()["items"]] == [urgent, ordinary, closed]
    bad = client.get(
        "/v1/legal/orders?country=France",
        headers={"Authorization": f"Bearer {world.reviewers[0]}"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"


def test_the_order_page_holds_the_whole_order_and_each_reviewers_answers(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    reference = _send(world)
    assert approve(client, reference, world.reviewers[0]).status_code == 201
    assert sign_in(client, make_login(runtime, "legal-page", Role.LEGAL)).status_code == 303
    html = client.get(f"/console/legal/orders/{reference}").text
    details = html.split('id="order-details"', 1)[1].split("</dl>", 1)[0]
    for expected in (
        "Code de procédure pénale, art. 60-1",
        "fraud",
        "subscriber data, identification data",
        "2026-",
    ):
        assert expected in details, expected
    reviews = html.split('id="reviews"', 1)[1].split("</table>", 1)[0]
    for question in _questions():
        assert f"{question.replace('_', ' ')}: <strong>yes</strong>" in reviews
    french = client.get(f"/console/legal/orders/{reference}?lang=fr").text
    assert "nécessaire et proportionnée: <strong>yes</strong>" in french
    assert "violation manifeste des droits fondamentaux" in french


def test_release_from_the_console_needs_an_explicit_confirmation(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    reference = _send(world)
    for reviewer in world.reviewers:
        assert approve(client, reference, reviewer).status_code == 201
    assert call_back(client, reference, world.reviewers[0]).status_code == 201
    assert sign_in(client, make_login(runtime, "legal-release", Role.LEGAL)).status_code == 303
    preview = client.get(f"/console/legal/orders/{reference}/disclosure")
    assert preview.status_code == 200
    assert 'name="confirm"' in preview.text
    csrf = csrf_of(client, f"/console/legal/orders/{reference}/disclosure")

    # A click that skips the confirmation (a form replayed without it) releases nothing.
    hasty = client.post(
        f"/console/legal/orders/{reference}/disclosure",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert hasty.status_code == 400
    status = client.get(
        f"/v1/legal/orders/{reference}", headers={"Authorization": f"Bearer {world.reviewers[1]}"}
    )
    assert status.json()["status"] == "approved"

    confirmed = client.post(
        f"/console/legal/orders/{reference}/disclosure",
        data={"csrf": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    client.cookies.clear()

    portal = make_login(runtime, "paris-portal", Role.AUTHORITY, f"authority:{world.court.code}")
    assert sign_in(client, portal).status_code == 303
    package_page = client.get(f"/console/portal/orders/{reference}/disclosure")
    assert package_page.headers["cache-control"] == "no-store"
    # The page says the signed package is in the JSON download: the link must be there.
    link = f"/console/portal/orders/{reference}/disclosure.json"
    assert f'href="{link}"' in package_page.text
    download = client.get(link)
    assert download.status_code == 200
    assert download.headers["cache-control"] == "no-store"
    assert "attachment" in download.headers["content-disposition"]
    body = download.json()
    signed = jws.verify(body["signed_package"], public_key=runtime.keys.public_key_bytes)
    assert signed == body["package"]


def test_the_portal_files_orders_and_audits_refused_ones_as_the_api_does(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    portal = make_login(runtime, "paris-intake", Role.AUTHORITY, f"authority:{world.court.code}")
    assert sign_in(client, portal).status_code == 303
    csrf = csrf_of(client, "/console/portal")

    def file(token: str) -> Any:
        return client.post(
            "/console/portal/orders",
            data={"csrf": csrf},
            files={
                "order": ("order.jws", token.encode(), "application/jose"),
                "document": ("order.pdf", PDF, "application/pdf"),
            },
            follow_redirects=False,
        )

    token = sign(world.court, claims(world.court))
    filed = file(token)
    assert filed.status_code == 303
    assert filed.headers["location"].startswith("/console/portal/orders/ORD-")

    replayed = file(token)
    assert replayed.status_code == 200
    assert "already received" in replayed.text
    with transaction(runtime.engine, readonly=True) as session:
        refusals = [
            json.loads(body)
            for body in session.execute(
                sa.select(AuditEntry.body).where(
                    AuditEntry.action == "legal.order.refused_at_intake"
                )
            ).scalars()
        ]
    assert [e["details"] for e in refusals] == [{"code": "replayed_token"}]
    assert refusals[0]["actor"].startswith("principal:")


def test_pages_cannot_be_framed_sniffed_or_cached_and_run_no_inline_script(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    reference = _send(world)
    public = client.get("/")
    assert "frame-ancestors 'none'" in public.headers["content-security-policy"]
    assert "script-src 'self'" in public.headers["content-security-policy"]
    assert public.headers["x-frame-options"] == "DENY"
    assert public.headers["x-content-type-options"] == "nosniff"
    assert sign_in(client, make_login(runtime, "legal-headers", Role.LEGAL)).status_code == 303
    for path in ("/console/legal/orders", f"/console/legal/orders/{reference}"):
        answer = client.get(path)
        assert answer.headers["cache-control"] == "no-store", path
        assert "<script>" not in answer.text, path
        assert re.findall(r"<script(?![^>]*\bsrc=)", answer.text) == [], path
    api = client.get(
        f"/v1/legal/orders/{reference}", headers={"Authorization": f"Bearer {world.reviewers[1]}"}
    )
    assert api.headers["cache-control"] == "no-store"


def test_another_authority_cannot_fetch_a_package_through_the_portal(
    client: TestClient, runtime: Runtime, world: LegalWorld, make_token: Any
) -> None:
    from legal_support import register_authority, release

    reference = _send(world)
    for reviewer in world.reviewers:
        assert approve(client, reference, reviewer).status_code == 201
    assert release(client, reference, world.reviewers[0]).status_code == 201
    rival = register_authority(
        client, world.admin, code="fr-tj-nantes", confirmer=make_token(Role.ADMIN)
    )
    intruder = make_login(runtime, "nantes-portal", Role.AUTHORITY, f"authority:{rival.code}")
    assert sign_in(client, intruder).status_code == 303
    for path in ("disclosure", "disclosure.json"):
        answer = client.get(f"/console/portal/orders/{reference}/{path}")
        assert answer.status_code == 404, path
        assert "+61" not in answer.text
        assert "203.0.113." not in answer.text
    # A moderator's session does not reach the package either.
    client.cookies.clear()
    assert sign_in(client, make_login(runtime, "mod-snoop", Role.MODERATOR)).status_code == 303
    assert client.get(f"/console/portal/orders/{reference}/disclosure.json").status_code == 403


def test_countdowns_checks_and_their_details_read_in_french(
    client: TestClient, runtime: Runtime, world: LegalWorld
) -> None:
    from rempart.web.check_words import SHAPES

    urgent = _send(world, **URGENT_CLAIMS)
    assert sign_in(client, make_login(runtime, "legal-fr", Role.LEGAL)).status_code == 303
    english = client.get("/console/legal/orders?lang=en").text
    assert re.search(r"due in \d+ h", english)
    french = client.get("/console/legal/orders?lang=fr").text
    assert re.search(r"échéance dans \d+ h", french)
    assert "due in" not in french
    order = client.get(f"/console/legal/orders/{urgent}?lang=fr").text
    checks = order.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = re.findall(r"<tr><td>([^<]*)</td><td>([^<(]*)[^<]*</td><td>([^<]*)</td></tr>", checks)
    assert len(cells) >= 6
    for name, outcome, detail in cells:
        assert "_" not in name, name
        assert outcome.strip() in {"réussi", "échoué", "avertissement", "sans objet"}, outcome
        # Every stored English sentence found its French one.
        assert not any(
            shape.fullmatch(sentence)
            for shape, _ in SHAPES
            for sentence in re.split(r"(?<=\.)\s+", detail.replace("&#39;", "'"))
        ), detail
    assert "Autorité vérifiée" in order

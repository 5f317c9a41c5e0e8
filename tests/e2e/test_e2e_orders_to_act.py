"""Orders to act in a real browser: the legal console lists them with their deadline
counting down and their outcome, a legal reviewer confirms an Art. 9 order, and the
authority's portal shows when and how its removal order was carried out."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from act_support import act_claims, act_deadline, competent, seed_content
from factories import make_login
from legal_support import PDF, legal_world, sign, submit
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from test_e2e import (
    ACCESSIBILITY_CHECK,
    CHROMIUM,
    SHOTS,
    browser_page,
    server,
    sign_in,
    sign_out,
    work,
)

__all__ = ["browser_page", "server"]  # fixtures, used by name
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("REMPART_TEST_REQUIRE_BROWSER") != "1",
        reason="Debian's Chromium is not installed (scripts/ensure-chromium.sh)",
    ),
]


def _row(page: Any, reference: str) -> Any:
    return page.locator(f'#orders-to-act tr[data-reference="{reference}"]')


def test_orders_to_act_count_down_are_confirmed_and_the_portal_shows_the_outcome(
    server: str,
    browser_page: Any,
    client: Any,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    tmp_path: Path,
) -> None:
    world = legal_world(client, make_token, platform_headers)
    seed_content(client, platform_headers)
    work(runtime)
    tco = competent(world, "fr-pnat", ["tco_removal"], kind="prosecutor")
    regulator = competent(world, "fr-arcom", ["dsa_orders_to_act"], kind="court")
    page = browser_page

    # The TCO authority sends its removal order through its portal.
    signed = tmp_path / "removal.jws"
    signed.write_text(sign(tco, act_claims(tco)))
    document = tmp_path / "removal.pdf"
    document.write_bytes(PDF)
    authority = make_login(runtime, "pnat", Role.AUTHORITY, f"authority:{tco.code}")
    sign_in(page, server, authority)
    page.goto(f"{server}/console/portal")
    page.get_by_label("Signed order").set_input_files(str(signed))
    page.get_by_label("Order document").set_input_files(str(document))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{server}/console/portal/orders/*")
    removal = page.url.rsplit("/", 1)[1]
    assert page.locator("#act-outcome").inner_text() == "pending"
    sign_out(page)
    article9 = submit(
        client,
        regulator,
        sign(
            regulator,
            act_claims(
                regulator,
                order_type="act",
                items=[{"kind": "post", "id": "p-recruit"}],
                territorial_scope=["FR"],
                deadline=act_deadline(24),
            ),
        ),
    ).json()["reference"]

    reviewer = make_login(runtime, "legal-act", Role.LEGAL)
    sign_in(page, server, reviewer)
    page.get_by_role("navigation", name="console").get_by_role("link", name="Orders to act").click()
    page.wait_for_url(f"{server}/console/legal/orders-to-act")
    # Soonest due first: the removal order's hour before the Art. 9 order's day.
    assert page.locator("#orders-to-act tbody tr").first.get_attribute("data-reference") == removal
    assert "due in" in _row(page, removal).locator(".countdown").inner_text()
    assert "min" in _row(page, removal).locator(".countdown").inner_text()
    assert _row(page, article9).locator(".outcome").inner_text() == "pending"
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    page.screenshot(path=SHOTS / "orders-to-act.png", full_page=True)

    work(runtime)  # the worker carries out the removal order without anyone
    page.reload()
    assert _row(page, removal).locator(".outcome").inner_text() == "carried out"
    assert _row(page, removal).locator(".countdown").inner_text() == ""

    page.get_by_role("link", name=article9).click()
    page.wait_for_url(f"{server}/console/legal/orders/{article9}")
    # No four-eyes review for an order that discloses nothing.
    assert page.locator("#four-eyes").count() == 0
    page.get_by_label("Confirm: act on it").check()
    page.get_by_label("Reasons").fill("Manifestly illegal recruitment, scope FR as ordered.")
    page.get_by_role("button", name="Record").click()
    page.wait_for_url(f"{server}/console/legal/orders/{article9}")
    work(runtime)
    page.reload()
    assert page.locator("#act-outcome").inner_text() == "carried out"
    assert page.locator("#territorial-scope").inner_text() == "FR"
    assert "disabled in the Member States named" in page.locator("#act-items").inner_text()
    page.screenshot(path=SHOTS / "order-to-act-confirmed.png", full_page=True)
    sign_out(page)

    sign_in(page, server, authority)
    page.goto(f"{server}/console/portal/orders/{removal}")
    assert page.locator("#status").inner_text() == "acted"
    assert page.locator("#act-outcome").inner_text() == "carried out"
    assert page.locator("#deadline-missed").count() == 0
    assert float(page.locator("#minutes-to-act").inner_text()) < 60
    assert "removed everywhere" in page.locator("#act-items").inner_text()
    assert page.evaluate(ACCESSIBILITY_CHECK) == []
    page.screenshot(path=SHOTS / "portal-removal-order.png", full_page=True)

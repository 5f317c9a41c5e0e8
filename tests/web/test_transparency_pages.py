"""The public's transparency pages, as a browser reaches them: an index with pickers, a
country's trend over the quarters that ended, both languages, and errors as pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from legal_support import register_authority
from rempart.audit import service as audit
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.transparency.periods import quarter_of


def test_the_index_offers_countries_periods_reports_and_how_to_verify(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    admin = make_token(Role.ADMIN)
    register_authority(client, admin, code="be-parquet-liege", country="BE", verified=False)
    index = client.get("/transparency")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<option value="BE">BE</option>' in index.text
    current = quarter_of(datetime.now(UTC)).name
    periods = re.findall(r'<option value="(\d{4}-Q\d)"', index.text)
    assert len(periods) == 8
    assert current not in periods
    assert "verify_report.py" in index.text
    french = client.get("/transparency?lang=fr")
    assert "Vérifier un rapport soi-même" in french.text
    assert '<html lang="fr"' in french.text

    picked = client.get(
        f"/transparency/lookup?country=be&period={periods[0]}", follow_redirects=True
    )
    assert picked.status_code == 200
    assert str(picked.url).endswith(f"/transparency/BE?period={periods[0]}")


def test_a_country_page_shows_ended_quarters_only_and_errors_as_pages(
    client: TestClient, runtime: Runtime, make_token: Callable[..., str]
) -> None:
    register_authority(client, make_token(Role.ADMIN), code="fr-tj-lyon", verified=False)
    audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)
    page = client.get("/transparency/FR")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>(\d{4}-Q\d)", page.text)
    current = quarter_of(runtime.now()).name
    # The trend: the eight quarters that ended, not the one under way ("<5" of a week).
    assert len(rows) == 8
    assert current not in rows
    assert "provisional" not in page.text
    assert "Requests from judicial authorities in FR" in page.text

    lower = client.get("/transparency/fr?period=2026", follow_redirects=False)
    assert lower.status_code == 308
    assert lower.headers["location"] == "/transparency/FR?period=2026"

    for path, status in (
        ("/transparency/FRA", 404),
        ("/transparency/F1", 404),
        ("/transparency/FR?period=2026-Q5", 400),
        ("/transparency/FR?period=last", 400),
    ):
        answer = client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<header>" in answer.text, path
    french = client.get("/transparency/FR?period=nope&lang=fr")
    assert "Une période est un trimestre" in french.text
    # API clients still get JSON with a code.
    api = client.get("/v1/transparency/FR?period=2026-Q5")
    assert api.status_code == 422
    assert api.json()["error"]["code"]

"""Bad input to notices, the bot, decisions and appeals answers a clear 4xx; query-side
protection sees through spelling tricks without refusing ordinary searches; a hash bank
import refuses to guess an algorithm."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import notice, reports_world
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from report_support import (
    decide,
    moderator,
)

# The solidarity channel and the scam, scanned (tests/factories.py).
world = reports_world


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (notice(target={"url": "https://[t.example/x"}), "invalid_link"),
        (notice(target={"url": "https://t.example:99999/bons_plans"}), "invalid_link"),
        (notice(target={"url": "https://t.example:8443/bons_plans"}), "invalid_link"),
        (notice(explanation="A scam, with a NUL \x00 in the middle."), "invalid_request"),
        (notice(reporter={"name": "Nul\x00", "email": "n@example.org"}), "invalid_request"),
        (notice(good_faith="yes"), "invalid_request"),
        (notice(good_faith=1), "invalid_request"),
    ],
)
def test_bad_notices_answer_a_clear_4xx_not_a_500(
    world: TestClient, body: dict[str, Any], code: str
) -> None:
    response = world.post("/v1/reports", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_bad_bot_messages_decisions_and_appeals_answer_a_4xx(
    world: TestClient, platform_headers: dict[str, str], make_token: Callable[..., str]
) -> None:
    stray = world.post(
        "/v1/reports/bot",
        json={"platform_user_id": "u-x", "text": "scam here https://[t.example/x please"},
        headers=platform_headers,
    )
    assert stray.status_code == 200, stray.text
    assert stray.json()["state"] == "asking_for_link"
    nul = world.post(
        "/v1/reports/bot",
        json={"platform_user_id": "u-x", "text": "bonjour \x00"},
        headers=platform_headers,
    )
    assert nul.status_code == 422
    staff = moderator(make_token)
    bad = decide(world, staff, 1, "no_violation", explanation="fine\x00", version=0)
    assert bad.status_code == 422
    flag = decide(world, staff, 1, "no_violation", reports_unfounded="true", version=0)
    assert flag.status_code == 422
    appeal = world.post("/v1/appeals", json={"secret": "x" * 32, "explanation": "ok \x00 ok ok"})
    assert appeal.status_code == 422


# -- query-side protection -------------------------------------------------------------

EVASIONS = [
    "child p0rn",
    "ch1ld porn",
    "c.p videos",
    "c p videos",
    "13yo",
    "preteen nude",
    "enfant nue",
    "CHILD PORN",
    "chiiild porrrn",
    "Сhild Р0RN",  # Cyrillic С and Р
    "p.t.h.c",
    "k1ds n4ked",
    "fillettes nues",
    "pédo vidéos",
    "cp videos",
    "cp links",
    "liens cp",
    "preteen sex",
    "12 ans nue",
]
ORDINARY = [
    "13 ans anniversaire",
    "recette gâteau 13 ans",
    "cadeau fille 13 ans",
    "cpu benchmark",
    "a b testing",
    "CP rentrée fournitures",
    "cahier cp",
    "child care near me",
    "kids swimming lessons",
    "children's books 8 years",
    "enfant malade fièvre",
    "enfants pieds nus plage",
    "nude lipstick",
    "robe nude",
    "porno graphique loi",
    "sex education school",
    "preteen clothing size chart",
    "teen mental health",
    "marché de noël",
    "vélos électriques",
    "concert festival",
    "recipe cake",
    "1337 speak",
    "ps5 prix",
    "co2 emissions",
    "b2b sales",
    "l'école des loisirs",
    "horaires bus 13",
    "film 2012",
    "mineurs isolés aide juridique",
    "distribution de repas",
    "cours de français gratuit",
    "asap delivery",
    "u.s.a visa",
    "d.j set",
    "bookkeeping",
    "aaa batteries",
    "suicide squad film",
    "15 yo daughter birthday ideas",
]


def test_protected_searches_see_through_spelling_and_ordinary_ones_pass(
    client: TestClient,
) -> None:
    for query in EVASIONS:
        body = client.get("/v1/search", params={"q": query}).json()
        assert body["warning"] is not None, query
        assert body["warning"]["code"] == "protected_query.csam", query
    refused = [q for q in ORDINARY if client.get("/v1/search", params={"q": q}).json()["warning"]]
    assert refused == []


# More than two hundred ordinary searches in English and French (school, family, sports,
# cooking, health, shopping), with the words that sit near the lists: "cp", "teen", "young",
# "child care", "enfant", "jeune", "baby", ages, "nude" as a colour.
ORDINARY_FIXTURE = [
    line.strip()
    for line in (Path(__file__).parents[1] / "fixtures" / "ordinary_queries.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
]


def test_two_hundred_ordinary_searches_in_both_languages_get_no_warning(
    client: TestClient,
) -> None:
    assert len(ORDINARY_FIXTURE) >= 200
    assert {"vidéos cp", "13 ans anniversaire", "child care near me", "baby names 2025"} <= set(
        ORDINARY_FIXTURE
    )
    refused = [
        q
        for q in ORDINARY_FIXTURE
        if client.get("/v1/search", params={"q": q}).json()["warning"] is not None
    ]
    assert refused == []
    # The same words in a seeking query still warn: the ordinary sense sets a pattern
    # aside only when it is there.
    for query in ("vidéos cp", "cp ce1 lecture", "robe nude fille 12 ans"):
        assert client.get("/v1/search", params={"q": query}).json()["warning"] is None
    for query in ("cp vids", "12 ans nue", "preteen sex", "enfants nus", "kids naked"):
        body = client.get("/v1/search", params={"q": query}).json()
        assert body["warning"]["code"] == "protected_query.csam", query


# -- hash bank import ------------------------------------------------------------------


def test_a_bank_row_without_algorithm_is_refused_when_ambiguous(
    cli: Callable[..., Any], tmp_path: Any, runtime: Runtime
) -> None:
    from rempart.moderation.models import BankHash

    bank = tmp_path / "bank.csv"
    bank.write_text("hash,category\n" + "ab" * 16 + ",weapons\n" + "cd" * 32 + ",weapons\n")
    refused = cli("banks", "import", str(bank), "--bank", "partner")
    assert refused.exit_code == 1
    assert "invalid_bank_file" in refused.stderr
    assert "Line 3" in refused.stderr
    with transaction(runtime.engine) as session:
        assert session.execute(select(BankHash)).first() is None
    bank.write_text("hash,category\n" + "ab" * 16 + ",weapons\n")
    assert cli("banks", "import", str(bank), "--bank", "partner").exit_code == 0
    with transaction(runtime.engine) as session:
        assert [h.algorithm for h in session.execute(select(BankHash)).scalars()] == ["md5"]

from __future__ import annotations

import re
from importlib import resources

from fastapi.testclient import TestClient

from rempart.web.i18n import LANGUAGES, translator


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ingest_round_trip(client: TestClient, platform_headers: dict[str, str]) -> None:
    body = {
        "events": [
            {
                "id": "a1",
                "type": "account.registered",
                "occurred_at": "2026-01-01T00:00:00Z",
                "user_id": "u1",
                "phone_number": "+61491570123",
            },
        ]
    }
    first = client.post("/v1/ingest/events", json=body, headers=platform_headers)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 1
    again = client.post("/v1/ingest/events", json=body, headers=platform_headers)
    assert again.json()["duplicates"] == 1


def test_every_word_the_pages_use_exists_in_both_languages() -> None:
    templates = resources.files("rempart.web").joinpath("templates")
    used = {
        key
        for page in templates.iterdir()
        if page.name.endswith(".html")
        for key in re.findall(r"\bt\.(?!get\()([a-z_]+)", page.read_text("utf-8"))
    }
    # Words looked up by a value: every value has its word.
    from rempart.legal.schemas import ChecklistItem, RefusalGround
    from rempart.moderation.schemas import DecisionAction
    from rempart.transparency.service import KINDS

    used |= {f"action_{a.value}" for a in DecisionAction}
    used |= {f"check_{item.value}" for item in ChecklistItem}
    used |= {f"ground_{ground.value}" for ground in RefusalGround}
    used |= {f"report_kind_{kind}" for kind in KINDS}
    used |= {f"status_{field}" for field in ("category", "outcome", "state")}
    from rempart.legal.checks import CHECK_NAMES, OUTCOMES
    from rempart.moderation import reasons
    from rempart.moderation.queue import ITEM_STATES, STATE_AFTER
    from rempart.web.check_words import SHAPES

    assert set(STATE_AFTER.values()) <= set(ITEM_STATES)
    used |= {f"item_state_{state}" for state in ITEM_STATES}
    used |= {f"queue_reason_{r}" for r in (*reasons.AUTOMATED, *reasons.REPORTS, "appeal")}
    used |= {f"auto_check_{name}" for name in CHECK_NAMES}
    used |= {f"check_outcome_{outcome}" for outcome in OUTCOMES}
    used |= {key for _, key in SHAPES}
    used |= {"countdown_overdue", "countdown_due_hours", "countdown_due_days"}
    from rempart.legal.acting import GONE
    from rempart.legal.schemas import ActOutcome, OrderType
    from rempart.platform.actions import GEO_RESTRICTED, REMOVED

    used |= {f"order_type_{kind.value}" for kind in OrderType}
    used |= {f"act_outcome_{outcome.value}" for outcome in ActOutcome}
    used |= {f"act_action_{action}" for action in (REMOVED, GEO_RESTRICTED, GONE)}
    for lang in LANGUAGES:
        missing = used - set(translator(lang))
        assert not missing, f"{lang}: {sorted(missing)}"


def test_every_check_detail_shape_reads_back_its_english_sentence() -> None:
    """The English of each check-detail key is the sentence the legal domain stores: a
    shape that drifted from it would leave that detail untranslated."""
    from rempart.web.check_words import SHAPES, check_detail

    english, french = translator("en"), translator("fr")
    samples = {
        "status": "pending",
        "categories": "traffic, content",
        "positions": "0, 2",
        "days": "365",
        "date": "2026-01-01",
        "code": "FR-TJ-PARIS",
        "kid": "k1",
    }
    for shape, key in SHAPES:
        sentence = english[key].format(**samples)
        assert shape.fullmatch(sentence), key
        assert check_detail(sentence, french) == french[key].format(**samples)
    mixed = "Answered as not held: content. The rest of the order proceeds."
    assert check_detail(mixed, french) == (
        "Réponse « données non détenues » pour : content. Le reste de l'injonction suit son cours."
    )
    assert check_detail("A sentence of no known shape.", french) == "A sentence of no known shape."

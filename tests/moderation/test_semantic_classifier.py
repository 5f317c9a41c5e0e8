"""The semantic stage: the bundled multilingual-e5-small (first 4 layers) with trained heads,
offline; asked only about what the first stage is unsure of; cached by prepared text; run by
the worker and by `rempart classify`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import event, run_worker
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import ngram, semantic
from rempart.moderation.cascade import SEMANTIC_SHARE, Cascade, unsure
from rempart.moderation.models import ModerationItem

UNSURE = "Rejoignez les combattants, le jour viendra où nous frapperons"
CLEAR = (
    "Matchs de foot en direct gratuitement, toutes les chaînes payantes, lien en bio, "
    "abonnement IPTV"
)
BENIGN = "The council meeting on recycling is moved to Thursday"


@pytest.fixture(scope="module")
def model() -> semantic.SemanticClassifier:
    return semantic.load_default()


def test_prepare_makes_campaign_variants_one_text() -> None:
    first = semantic.prepare("Promo 35€, appelle le 06 12 34 56 78 https://Shop.Example/a?x=1")
    second = semantic.prepare("Promo 90€, appelle le 07 99 88 77 66 https://shop.example/b")
    assert first == second == "Promo 00€, appelle le 00 00 00 00 00 https://shop.example"
    assert len(semantic.prepare("mot " * 500).split()) == semantic.MAX_WORDS


def test_reads_meaning_offline_and_deterministically(model: semantic.SemanticClassifier) -> None:
    assert model.model_version == "semantic-v3"
    results = model.classify([UNSURE, BENIGN, "", "🔥" * 300])
    assert results[0].top == "terrorism"
    assert results[0].stage == "semantic"
    assert results[1].top == "none"
    assert all(abs(sum(r.scores.values()) - 1) < 0.01 for r in results)
    assert model.classify([UNSURE, BENIGN]) == results[:2]
    assert model.classify([]) == []


def test_heads_bring_the_encoder_depth_they_were_trained_on(tmp_path: Path) -> None:
    shallow, deep = semantic.load_default(), semantic.load_deep()
    assert "first 4 layers" in shallow.embedder.name
    assert "first 12 layers" in deep.embedder.name
    assert deep.model_version == "semantic12-v1"
    assert deep.classify([UNSURE])[0].top == "terrorism"
    # Heads asking for a depth the bundled encoder lacks are refused when loaded, never run
    # on another depth's embeddings (which would score, silently, at random).
    heads = tmp_path / "heads.npz"
    manifest = {"version": "semantic-x", "layers": 13}
    semantic.save_heads(heads, deep.weights, deep.bias, deep.categories, manifest)
    with pytest.raises(RuntimeError, match="13 layers"):
        semantic.load(heads)


def test_cascade_asks_only_about_unsure_items_and_caches(
    model: semantic.SemanticClassifier,
) -> None:
    first = ngram.load_default()
    [unsure_first, clear_first] = first.classify([UNSURE, CLEAR])
    assert unsure(unsure_first)
    assert not unsure(clear_first)

    embedder = model.embedder
    assert isinstance(embedder, semantic.E5Embedder)
    embedder.clear()
    misses = embedder.misses
    texts = [f"{UNSURE} (2 jours)", CLEAR, f"{UNSURE} (7 jours)", f"{UNSURE} (9 jours)"]
    results = Cascade(first, model).classify(texts)
    assert [r.stage for r in results] == ["semantic", "first", "semantic", "semantic"]
    # Three unsure posts, one text once digits are set aside: one embedding.
    assert embedder.misses == misses + 1
    assert results[0].scores["terrorism"] > unsure_first.scores["terrorism"]
    # The first stage's reading is not thrown away: the answer blends both stages, the
    # semantic one weighing SEMANTIC_SHARE.
    [alone] = model.classify([texts[0]])
    w = SEMANTIC_SHARE
    for category, score in results[0].scores.items():
        reading = first.classify([texts[0]])[0].scores[category]
        expected = (1 - w) * reading + w * alone.scores[category]
        assert abs(score - expected) < 1e-3, category


def test_worker_runs_the_semantic_stage(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    rt = Runtime(
        settings=runtime.settings.model_copy(update={"classifier_semantic": True}),
        engine=runtime.engine,
        keys=runtime.keys,
    )
    events = [
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-x",
            kind="channel",
            title="Nouvelles",
            owner_user_id="u-owner",
            member_count=40,
        ),
        event("e-1", "post.published", post_id="p-unsure", entity_id="ch-x", text=UNSURE),
        event("e-2", "post.published", post_id="p-clear", entity_id="ch-x", text=CLEAR),
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text
    run_worker(rt)
    with transaction(rt.engine) as session:
        items = {
            i.ref: i
            for i in session.execute(
                select(ModerationItem).where(ModerationItem.kind == "post")
            ).scalars()
        }
    unsure_item, clear_item = items["p-unsure"], items["p-clear"]
    assert "semantic-v3+semantic12-v1" in unsure_item.model_version
    # The first stage half suspects it (over cascade.DEEP_EDGE): the 12-layer stage answered.
    details = {s["detail"] for s in unsure_item.signals if s["source"] == "classifier"}
    assert details == {"semantic12-v1/semantic"}
    assert unsure_item.category == "terrorism"
    assert {s["detail"] for s in clear_item.signals if s["source"] == "classifier"} <= {
        "ngram-v3/first"
    }


def test_classify_command_names_the_stage(cli: Callable[..., Any], env: dict[str, str]) -> None:
    lines = json.dumps({"text": UNSURE}) + "\n" + json.dumps(CLEAR) + "\n"
    env_semantic = {**env, "REMPART_CLASSIFIER_SEMANTIC": "1"}
    result = cli("classify", input=lines, env=env_semantic)
    assert result.exit_code == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["stage"] for a in answers] == ["semantic", "first"]
    assert answers[0]["top"] == "terrorism"
    fast = cli("classify", "--first-stage-only", input=lines, env=env_semantic)
    assert [json.loads(line)["stage"] for line in fast.stdout.splitlines()] == ["first", "first"]

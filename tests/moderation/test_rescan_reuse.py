"""A rescan that a policy, rule or hash bank change triggered judges items again on the
classifier's stored answers; a model change, a changed text or a human decision makes the
classifier run again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from factories import VIOLATING, event, run_worker
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job
from rempart.moderation import rescan, tasks
from rempart.moderation.models import ModerationItem
from rempart.moderation.signals import ClassifierResult, TextClassifier
from rempart.platform.models import Post
from rempart.search.models import SearchDocument


class Counting:
    """The runtime's classifier, recording what it is asked, under a version of choice."""

    def __init__(self, inner: TextClassifier, version: str | None = None) -> None:
        self.inner = inner
        self.version = version or inner.model_version
        self.asked: list[str] = []

    @property
    def model_version(self) -> str:
        return self.version

    def classify(self, texts: Sequence[str]) -> Sequence[ClassifierResult]:
        self.asked += texts
        return self.inner.classify(texts)


BENIGN = "Marché de Noël samedi sur la place, vin chaud et crêpes pour tous"


def _scanned(client: TestClient, runtime: Runtime, headers: dict[str, str]) -> None:
    events = [
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-1",
            kind="channel",
            title="Annonces",
            owner_user_id="u-owner",
            member_count=10,
        ),
        event(
            "e-1",
            "post.published",
            post_id="p-bad",
            entity_id="ch-1",
            text=VIOLATING["p-weapon-en"],
        ),
        event("e-2", "post.published", post_id="p-ok", entity_id="ch-1", text=BENIGN),
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    run_worker(runtime)


def _items(runtime: Runtime) -> dict[str, dict[str, Any]]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(select(ModerationItem)).scalars()
        return {
            i.ref: {
                "state": i.state,
                "signals": i.signals,
                "model_version": i.model_version,
                "version": i.version,
            }
            for i in rows
        }


def _documents(runtime: Runtime) -> dict[str, int]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(select(SearchDocument.ref, SearchDocument.id)).all()
        return {ref: id_ for ref, id_ in rows}


def _install(runtime: Runtime, version: str | None = None) -> Counting:
    counting = Counting(runtime.port(tasks.CLASSIFIER), version)
    runtime._ports[tasks.CLASSIFIER.setting] = counting
    return counting


def _rescan(runtime: Runtime, *, reuse_scores: bool) -> None:
    with transaction(runtime.engine) as session:
        rescan.plan(
            session, media_only=False, reason="test", actor="test", reuse_scores=reuse_scores
        )
    run_worker(runtime)


def test_a_policy_rescan_reuses_stored_answers_and_changes_nothing(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    _scanned(client, runtime, platform_headers)
    before, documents = _items(runtime), _documents(runtime)
    assert before["p-bad"]["state"] == "restricted"
    assert "p-ok" in documents
    assert any(s["source"] == "classifier" for s in before["p-bad"]["signals"])
    counting = _install(runtime)

    _rescan(runtime, reuse_scores=True)

    # Same texts, same models: the classifier is not asked, and the verdicts, signals and
    # item versions (which a moderator's claim is checked against) are as they were.
    assert counting.asked == []
    assert _items(runtime) == before
    # The search index holds the same documents: none was deleted and written again.
    assert _documents(runtime) == documents


def test_a_model_change_or_a_plain_rescan_classifies_again(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    _scanned(client, runtime, platform_headers)
    counting = _install(runtime)
    _rescan(runtime, reuse_scores=False)
    assert VIOLATING["p-weapon-en"] in counting.asked
    assert BENIGN in counting.asked

    newer = _install(runtime, version="ngram-v99")
    _rescan(runtime, reuse_scores=True)
    # The stored answers are another model's: every text is classified by the new one.
    assert VIOLATING["p-weapon-en"] in newer.asked
    assert BENIGN in newer.asked
    items = _items(runtime)
    assert items["p-ok"]["model_version"].endswith("+ngram-v99")
    assert items["p-bad"]["model_version"].endswith("+ngram-v99")


def test_a_long_classifier_name_is_kept_whole_and_recognised(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    # The shipped cascade's name with an operator's remote model: past the 64 characters
    # the column once cut it at, so no stored answer was ever reused again.
    name = "ngram-v3+semantic-v3+semantic12-v1+remote:" + "a-safety-model-" * 3
    _install(runtime, version=name)
    _scanned(client, runtime, platform_headers)
    assert _items(runtime)["p-bad"]["model_version"].endswith("+" + name)

    same = _install(runtime, version=name)
    _rescan(runtime, reuse_scores=True)
    assert same.asked == []
    # Another remote model, named alike but for its last characters, is another classifier.
    other = _install(runtime, version=name[:-1] + "2")
    _rescan(runtime, reuse_scores=True)
    assert BENIGN in other.asked


def test_changed_text_and_human_decisions_are_not_reused(
    client: TestClient, runtime: Runtime, platform_headers: dict[str, str]
) -> None:
    _scanned(client, runtime, platform_headers)
    edited = "Selling a Glock 19 with no papers, cash only, DM @ironman"
    with transaction(runtime.engine) as session:
        # The text changed behind moderation's back (no scan queued): its digest differs.
        session.execute(update(Post).where(Post.post_id == "p-ok").values(text=edited))
        # A moderator decided this one: its signals are older than any digest check.
        session.execute(
            update(ModerationItem)
            .where(ModerationItem.ref == "p-bad")
            .values(human_decided_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
    counting = _install(runtime)

    _rescan(runtime, reuse_scores=True)

    assert edited in counting.asked
    assert VIOLATING["p-weapon-en"] in counting.asked
    assert _items(runtime)["p-ok"]["state"] == "restricted"


def test_the_cli_rescans_everything_unless_told_to_reuse(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    _scanned(client, runtime, platform_headers)
    for args, reuse in (([], False), (["--reuse-scores"], True)):
        result = cli("moderation", "rescan", *args)
        assert result.exit_code == 0, result.stderr
        with transaction(runtime.engine, readonly=True) as session:
            payloads = session.execute(
                select(Job.payload).where(Job.kind == rescan.RESCAN_JOB, Job.status == "queued")
            ).scalars()
            assert {p["reuse_scores"] for p in payloads} == {reuse}
        run_worker(runtime)

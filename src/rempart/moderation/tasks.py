"""Background moderation: scanning new and changed public items, delivering statements of
reasons, and rescanning the corpus when a model, a rule list or a hash bank changes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core import ports
from rempart.core.clock import now_of
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.jobs import WRITE_PARTS, enqueue
from rempart.core.models import ScheduleState
from rempart.core.ports import Port
from rempart.core.settings import Settings
from rempart.moderation import events, media, pipeline, rescan, stored_scores
from rempart.moderation.signals import ClassifierResult, TextClassifier
from rempart.moderation.statements import deliver_statements
from rempart.platform import hooks as platform_hooks

SCAN_JOB = "moderation.scan"
ACTOR = "system:moderation"
# Scans are split so that a job stays well inside its lease, and its write transaction
# (1 to 2 ms of CPU per item written) short: API writes wait behind it on SQLite.
SCAN_CHUNK = 50
# Items written per transaction: at load 15 on two cores a part of 50 held SQLite's write
# lock for up to 1.1 s while requests waited.
SCAN_WRITE_CHUNK = 10


def enqueue_scan(session: Session, *, entity_ids: list[str], post_ids: list[str]) -> None:
    # Entities first: a post is searchable only while its entity is.
    for start in range(0, max(len(entity_ids), len(post_ids)), SCAN_CHUNK):
        entities = entity_ids[start : start + SCAN_CHUNK]
        posts = post_ids[start : start + SCAN_CHUNK]
        if entities or posts:
            enqueue(session, kind=SCAN_JOB, payload={"entity_ids": entities, "post_ids": posts})


@lru_cache(maxsize=4)
def classifier_for(
    semantic_stage: bool, remote_url: str | None, model: str, token: str | None, timeout: float
) -> TextClassifier:
    """The committed models, loaded once per process: the first stage on every item, then
    the semantic stage (4 or 12 layers, see ``cascade.DEEP_EDGE``) and the operator's remote
    safety model, when enabled, each on what the stage before it is unsure of."""
    # The models and numpy load here, in the worker's first scan, not when a web process
    # imports this module to enqueue scans.
    from rempart.moderation import ngram, semantic
    from rempart.moderation.cascade import Cascade
    from rempart.moderation.remote import RemoteClassifier

    first = ngram.load_default()
    remote = RemoteClassifier(remote_url, model, token, timeout) if remote_url else None
    if not semantic_stage:
        return Cascade(first, remote) if remote else first

    def then_remote(stage: TextClassifier) -> TextClassifier:
        return Cascade(stage, remote) if remote else stage

    return Cascade(first, then_remote(semantic.load_default()), then_remote(semantic.load_deep()))


def default_classifier(settings: Settings) -> TextClassifier:
    return classifier_for(
        settings.classifier_semantic,
        settings.classifier_remote_url,
        settings.classifier_remote_model,
        settings.classifier_remote_token,
        settings.classifier_remote_timeout_seconds,
    )


# The classifier that scans, chosen by ``REMPART_CLASSIFIER``; held by the runtime.
CLASSIFIER: Port[TextClassifier] = Port("classifier")
ports.register(CLASSIFIER, "cascade", lambda rt: default_classifier(rt.settings))
ports.register(
    CLASSIFIER,
    "first_stage",
    lambda rt: classifier_for(False, None, "", None, rt.settings.classifier_remote_timeout_seconds),
)


class Precomputed:
    """The classifier's answers, computed before the job's write transaction opened: model
    inference (and a remote model's network calls) never runs under the write lock. A text
    that changed in between is classified then, as a scan did before."""

    def __init__(self, inner: TextClassifier, results: dict[str, ClassifierResult]) -> None:
        self._inner = inner
        self._results = results

    @property
    def model_version(self) -> str:
        return self._inner.model_version

    def classify(self, texts: Sequence[str]) -> Sequence[ClassifierResult]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._results]
        if missing:
            self._results.update(zip(missing, self._inner.classify(missing), strict=True))
        return [self._results[t] for t in texts]


def prepare_scan(rt: Runtime, payload: dict[str, Any]) -> dict[str, Any]:
    """Read what the scan will classify, then classify it with no transaction open."""
    classifier = rt.port(CLASSIFIER)
    results: dict[str, ClassifierResult] = {}
    with transaction(rt.engine, readonly=True) as session:
        if "kind" in payload:  # a rescan job names a range of rows
            entity_ids, post_ids = rescan.refs_in_range(session, payload=payload)
        else:
            entity_ids, post_ids = payload.get("entity_ids", []), payload.get("post_ids", [])
        texts = pipeline.texts_to_classify(session, entity_ids=entity_ids, post_ids=post_ids)
        if payload.get("reuse_scores") and texts:
            results.update(
                stored_scores.reusable(
                    session,
                    entity_ids=entity_ids,
                    post_ids=post_ids,
                    classifier_version=classifier.model_version,
                )
            )
    texts = [t for t in texts if t not in results]
    if texts:
        results.update(zip(texts, classifier.classify(texts), strict=True))
    precomputed = Precomputed(classifier, results)
    # Written SCAN_WRITE_CHUNK items at a time, entities first (a post is searchable only
    # while its entity is); each part is a plain scan of the ids it names.
    parts = [
        {"entity_ids": entity_ids[i : i + SCAN_WRITE_CHUNK], _CLASSIFIER: precomputed}
        for i in range(0, len(entity_ids), SCAN_WRITE_CHUNK)
    ] + [
        {"post_ids": post_ids[i : i + SCAN_WRITE_CHUNK], _CLASSIFIER: precomputed}
        for i in range(0, len(post_ids), SCAN_WRITE_CHUNK)
    ]
    return {**payload, _CLASSIFIER: precomputed, WRITE_PARTS: parts}


_CLASSIFIER = "_classifier"  # not JSON: set by prepare_scan, never stored


def scan(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    now = rt.now()
    classifier: TextClassifier = payload.get(_CLASSIFIER) or rt.port(CLASSIFIER)
    if payload.get("entity_ids"):
        pipeline.scan_entities(
            session, entity_ids=payload["entity_ids"], classifier=classifier, now=now
        )
    if payload.get("post_ids"):
        pipeline.scan_posts(session, post_ids=payload["post_ids"], classifier=classifier, now=now)


def rescan_range(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    if "kind" not in payload:  # a part of the job, naming its ids (prepare_scan)
        scan(session, rt, payload)
        return
    entity_ids, post_ids = rescan.refs_in_range(session, payload=payload)
    scan(
        session,
        rt,
        {"entity_ids": entity_ids, "post_ids": post_ids, _CLASSIFIER: payload.get(_CLASSIFIER)},
    )


def rescan_if_models_changed(session: Session, rt: Runtime) -> bool:
    """A new model, rule list or policy version re-evaluates the corpus, once."""
    classifier = rt.port(CLASSIFIER)
    version = pipeline.model_version(classifier)
    mark = f"moderation-model:{version}"[:64]
    if session.get(ScheduleState, mark) is not None:
        return False
    first_run = (
        session.execute(
            select(ScheduleState.name).where(ScheduleState.name.like("moderation-model:%"))
        ).first()
        is None
    )
    session.add(ScheduleState(name=mark, last_run_at=now_of(session)))
    if not first_run:
        # Items judged by this very classifier on unchanged text keep its stored answer:
        # a policy or rule change does not run the models again; a model change does.
        rescan.plan(
            session,
            media_only=False,
            reason=f"models changed: {version}",
            actor=ACTOR,
            reuse_scores=True,
        )
    return not first_run


def deliver(session: Session, rt: Runtime, *, limit: int = 500) -> int:
    return deliver_statements(
        session, notifier=rt.notifier, settings=rt.settings, now=rt.now(), limit=limit
    )


def purge_review_media(session: Session, rt: Runtime) -> None:
    purged = media.purge_expired(session, now=rt.now())
    if purged:
        audit.record(session, events.MediaPurged(purged=purged), actor=ACTOR)


JOB_HANDLERS = {SCAN_JOB: scan, rescan.RESCAN_JOB: rescan_range}
# Run before the handler's write transaction, with none open.
JOB_PREPARERS = {SCAN_JOB: prepare_scan, rescan.RESCAN_JOB: prepare_scan}


# Ingest scans what it stores and keeps inline images for review through these (ingest
# cannot import moderation, which sits above it: platform/hooks.py).
platform_hooks.subscribe_moderation(
    enqueue_scan=enqueue_scan,
    keep_for_review=media.keep_for_review,
    blurred_preview=media.blurred_preview,
)

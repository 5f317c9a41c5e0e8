"""The classifier's stored answers, reused by a rescan that only the policy, the rule list
or the hash banks triggered.

A rescan after a policy change must judge every item again, but the text classifier
would answer exactly what it answered last time: same text, same models. Its answer is
kept on the item (the ``classifier`` signals, the only part of an answer a scan reads),
so such a rescan reads it back instead of running the semantic stage (most of a rescan's
CPU). An item's stored answer is reused only when all of these hold:
- the item's content digest is that of its text and media now (same text);
- the classifier part of the item's ``model_version`` is the running classifier's version
  (same first stage, semantic stage and remote model; a model change rescores);
- a machine made the item's last verdict (no human decision, no order that removed it:
  those keep signals older than the digest).
Anything else is classified as before. The cascade's band and blend are code: a change
to them must change a stage's version, as it must to trigger any rescan at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.moderation.models import ModerationItem
from rempart.moderation.pipeline import content_digest, entity_text, post_text
from rempart.platform.models import Entity, Post, PostMedia


@dataclass(frozen=True)
class StoredResult:
    """A classifier answer rebuilt from an item's signals: the scores of 0.05 or more,
    which are all that ``signals.classifier_signals`` keeps of an answer."""

    scores: dict[str, float] = field(default_factory=dict)
    model_version: str = ""
    stage: str = ""


def classifier_version_of(item_version: str) -> str | None:
    """The classifier's part of a stored ``pipeline.model_version`` (policy+rules+classifier),
    None when the item was judged without a classifier."""
    parts = item_version.split("+", 2)
    return parts[2] if len(parts) == 3 else None


def answer_of(item: ModerationItem) -> StoredResult:
    scores: dict[str, float] = {}
    version = stage = ""
    for signal in item.signals:
        if signal.get("source") != "classifier":
            continue
        version, _, stage = str(signal["detail"]).rpartition("/")
        scores[str(signal["category"])] = float(signal["score"])
    return StoredResult(scores=scores, model_version=version, stage=stage)


def reusable(
    session: Session,
    *,
    entity_ids: Sequence[str],
    post_ids: Sequence[str],
    classifier_version: str,
) -> dict[str, StoredResult]:
    """Stored answers by text, for the items of a scan that may reuse theirs."""
    found: dict[str, StoredResult] = {}
    if post_ids:
        posts = session.execute(select(Post).where(Post.post_id.in_(post_ids))).scalars().all()
        media: dict[str, list[str | None]] = defaultdict(list)
        for post_id, sha256 in session.execute(
            select(PostMedia.post_id, PostMedia.sha256)
            .where(PostMedia.post_id.in_([p.post_id for p in posts]))
            .order_by(PostMedia.id)
        ):
            media[post_id].append(sha256)
        items = _machine_judged(session, "post", [p.post_id for p in posts], classifier_version)
        for post in posts:
            text, item = post_text(post), items.get(post.post_id)
            if text is None or item is None:
                continue
            if item.content_digest == content_digest(post.text, *media[post.post_id]):
                found[text] = answer_of(item)
    if entity_ids:
        entities = (
            session.execute(select(Entity).where(Entity.entity_id.in_(entity_ids))).scalars().all()
        )
        items = _machine_judged(
            session, "entity", [e.entity_id for e in entities], classifier_version
        )
        for entity in entities:
            text, item = entity_text(entity), items.get(entity.entity_id)
            if text is None or item is None:
                continue
            if item.content_digest == content_digest(entity.title, entity.description):
                found[text] = answer_of(item)
    return found


def _machine_judged(
    session: Session, kind: str, refs: list[str], classifier_version: str
) -> dict[str, ModerationItem]:
    if not refs:
        return {}
    rows = session.execute(
        select(ModerationItem).where(
            ModerationItem.kind == kind,
            ModerationItem.ref.in_(refs),
            ModerationItem.human_decided_at.is_(None),
            ModerationItem.state != "removed",
        )
    ).scalars()
    return {
        item.ref: item
        for item in rows
        if classifier_version_of(item.model_version) == classifier_version
    }

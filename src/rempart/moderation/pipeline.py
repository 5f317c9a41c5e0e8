"""Scanning public items: signals, then policy, then search.

Nothing enters search before it is scanned. At or above a category's ``restrict``
threshold an item leaves search at once, its owner gets a statement of reasons, and it
waits for a human to confirm; between ``review`` and ``restrict`` it stays searchable and
joins the review queue; below ``review`` nothing happens. An item a human has decided is
not re-judged by machines unless its content changes.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.moderation import events, reasons
from rempart.moderation.hooks import hotline, ordered
from rempart.moderation.models import MODEL_VERSION_LENGTH, ModerationDecision, ModerationItem
from rempart.moderation.signal_types import media_signals
from rempart.moderation.signals import (
    Signal,
    TextClassifier,
    classifier_signals,
    policy,
    rule_set,
    rule_signals,
)
from rempart.moderation.statements import issue_statement
from rempart.platform.models import Entity, Post, PostMedia
from rempart.search import service as search
from rempart.search.service import IndexEntry

ACTOR = "system:moderation"
# An entity is judged on its posts too: this share of restricted posts sends it to review.
ENTITY_RESTRICTED_SHARE = 0.3
ENTITY_RESTRICTED_MIN = 3


@dataclass
class Verdict:
    state: str  # visible | queued | restricted
    category: str | None
    confidence: float
    signals: list[Signal]


@dataclass
class ScanSummary:
    scanned: int = 0
    visible: int = 0
    queued: int = 0
    restricted: int = 0
    kept_human_decision: int = 0
    removed: int = 0
    by_category: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def judge(signals: list[Signal]) -> Verdict:
    """The policy: each signal against its category's thresholds for its source (the
    classifier's scores have thresholds of their own); per category the strongest signal."""
    best: dict[str, float] = {}
    for signal in signals:
        best[signal.category] = max(best.get(signal.category, 0.0), signal.score)
    rules = policy().categories
    restricting, reviewing = [], []
    for signal in signals:
        if signal.category not in rules:
            continue
        review_at, restrict_at = rules[signal.category].thresholds(signal)
        triggered = (signal.category, best[signal.category], rules[signal.category])
        if signal.score >= restrict_at:
            restricting.append(triggered)
        if signal.score >= review_at:
            reviewing.append(triggered)
    chosen = restricting or reviewing
    if not chosen:
        return Verdict("visible", None, max(best.values(), default=0.0), signals)
    name, score, _ = max(chosen, key=lambda t: (t[2].severity, t[1]))
    return Verdict("restricted" if restricting else "queued", name, score, signals)


def model_version(classifier: TextClassifier | None) -> str:
    parts = [policy().version, rule_set().version]
    if classifier is not None:
        parts.append(classifier.model_version)
    # Within the column by the settings' bounds (the remote model's name is the only free
    # part); were it ever longer, the cut name matches no running classifier, so a rescan
    # classifies again rather than reuse an answer it cannot attribute.
    return "+".join(parts)[:MODEL_VERSION_LENGTH]


def priority(category: str | None, confidence: float, reach: int) -> float:
    severity = policy().categories[category].severity if category else 1
    return round(severity * confidence * (1 + math.log10(1 + max(reach, 0))), 4)


def content_digest(*parts: str | None) -> str:
    """What an item's verdict was made on: a changed digest means changed content."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def post_text(post: Post) -> str | None:
    """The text the classifier reads for a post, or None when it reads nothing."""
    return post.text if post.deleted_at is None and post.text else None


def entity_text(entity: Entity) -> str | None:
    return None if entity.deleted_at is not None else f"{entity.title}\n{entity.description or ''}"


def texts_to_classify(
    session: Session, *, entity_ids: Sequence[str], post_ids: Sequence[str]
) -> list[str]:
    """What a scan of these items will ask the classifier, read so that the classifier
    can run before the scan's write transaction opens."""
    texts: list[str | None] = []
    if entity_ids:
        entities = session.execute(select(Entity).where(Entity.entity_id.in_(entity_ids)))
        texts += [entity_text(e) for e in entities.scalars()]
    if post_ids:
        posts = session.execute(select(Post).where(Post.post_id.in_(post_ids)))
        texts += [post_text(p) for p in posts.scalars()]
    return list(dict.fromkeys(t for t in texts if t is not None))


def scan_posts(
    session: Session,
    *,
    post_ids: Sequence[str],
    classifier: TextClassifier | None,
    now: datetime,
) -> ScanSummary:
    summary = ScanSummary()
    posts = session.execute(select(Post).where(Post.post_id.in_(post_ids))).scalars().all()
    if not posts:
        return summary
    entities = {
        e.entity_id: e
        for e in session.execute(
            select(Entity).where(Entity.entity_id.in_({p.entity_id for p in posts}))
        ).scalars()
    }
    media: dict[str, list[PostMedia]] = defaultdict(list)
    for m in session.execute(
        select(PostMedia)
        .where(PostMedia.post_id.in_([p.post_id for p in posts]))
        .order_by(PostMedia.id)  # the content digest lists media in a stable order
    ).scalars():
        media[m.post_id].append(m)
    items = _items(session, "post", [p.post_id for p in posts])
    entity_states = _entity_states(session, list(entities))
    # Taken down by an authority's order, the post or its channel: never back in search.
    posts_down = ordered.ordered_down(session, kind="post", refs=[p.post_id for p in posts])
    entities_down = ordered.ordered_down(session, kind="entity", refs=list(entities))
    live = [p for p in posts if post_text(p) is not None]
    results = classifier.classify([p.text or "" for p in live]) if classifier and live else []
    by_post = dict(zip([p.post_id for p in live], results, strict=True)) if results else {}
    version = model_version(classifier)
    to_index: list[IndexEntry] = []
    to_remove: list[tuple[str, str]] = []
    for post in posts:
        summary.scanned += 1
        entity = entities.get(post.entity_id)
        if entity is None or post.deleted_at is not None or entity.deleted_at is not None:
            to_remove.append(("post", post.post_id))
            summary.removed += 1
            continue
        signals = rule_signals(post.text or "", post.language)
        signals += media_signals(session, media[post.post_id])
        if post.post_id in by_post:
            signals += classifier_signals(by_post[post.post_id])
        digest = content_digest(post.text, *[m.sha256 for m in media[post.post_id]])
        state = _settle(
            session,
            items.get(post.post_id),
            summary=summary,
            signals=signals,
            digest=digest,
            target=Target(
                "post",
                post.post_id,
                entity,
                post.published_at,
                post.language,
                bool(media[post.post_id]),
                post.author_user_id or entity.owner_user_id,
            ),
            version=version,
            now=now,
            ordered_down=posts_down.get(post.post_id),
        )
        searchable = (
            state in ("visible", "queued")
            and entity_states.get(entity.entity_id, "visible") in ("visible", "queued")
            and post.post_id not in posts_down
            and entity.entity_id not in entities_down
        )
        if searchable:
            to_index.append(post_entry(post, entity))
        else:
            to_remove.append(("post", post.post_id))
    search.remove(session, items=to_remove)
    search.put(session, entries=to_index)
    _record(session, events.PostsScanned, summary, version)
    return summary


def scan_entities(
    session: Session,
    *,
    entity_ids: Sequence[str],
    classifier: TextClassifier | None,
    now: datetime,
) -> ScanSummary:
    """Entities on their own text (title, description) and on their posts in aggregate."""
    summary = ScanSummary()
    entities = (
        session.execute(select(Entity).where(Entity.entity_id.in_(entity_ids))).scalars().all()
    )
    if not entities:
        return summary
    items = _items(session, "entity", [e.entity_id for e in entities])
    live = [e for e in entities if e.deleted_at is None]
    texts = [entity_text(e) or "" for e in live]
    results = classifier.classify(texts) if classifier and live else []
    by_entity = dict(zip([e.entity_id for e in live], results, strict=True)) if results else {}
    version = model_version(classifier)
    restricted_posts = _restricted_post_shares(session, [e.entity_id for e in live])
    entities_down = ordered.ordered_down(session, kind="entity", refs=[e.entity_id for e in live])
    for entity in entities:
        summary.scanned += 1
        if entity.deleted_at is not None:
            search.remove_entity(session, entity_id=entity.entity_id)
            summary.removed += 1
            continue
        text = f"{entity.title}\n{entity.description or ''}"
        signals = rule_signals(text, None)
        if entity.entity_id in by_entity:
            signals += classifier_signals(by_entity[entity.entity_id])
        restricted, total = restricted_posts.get(entity.entity_id, (0, 0))
        if restricted >= ENTITY_RESTRICTED_MIN and restricted / total >= ENTITY_RESTRICTED_SHARE:
            category, count = _dominant_category(session, entity.entity_id)
            # Aggregate evidence sends the entity to review; it never restricts on its own.
            review_at = policy().categories[category].review
            signals.append(
                Signal(
                    "aggregate",
                    category,
                    min(review_at + 0.01, 0.99),
                    f"{restricted} of {total} posts restricted ({count} {category})",
                )
            )
        digest = content_digest(entity.title, entity.description)
        state = _settle(
            session,
            items.get(entity.entity_id),
            summary=summary,
            signals=signals,
            digest=digest,
            target=Target(
                "entity",
                entity.entity_id,
                entity,
                entity.published_at,
                None,
                False,
                entity.owner_user_id,
            ),
            version=version,
            now=now,
            ordered_down=entities_down.get(entity.entity_id),
        )
        if state in ("visible", "queued") and entity.entity_id not in entities_down:
            search.put(session, entries=[entity_entry(entity)])
        else:
            search.remove_entity(session, entity_id=entity.entity_id)
    _record(session, events.EntitiesScanned, summary, version)
    return summary


@dataclass(frozen=True)
class Target:
    """What a verdict applies to, and the facts its statement of reasons needs."""

    kind: str
    ref: str
    entity: Entity
    content_date: datetime
    language: str | None
    has_media: bool
    # Whom an account measure would concern: a post's author, else the entity's owner.
    owner_user_id: str | None


def entity_entry(entity: Entity) -> IndexEntry:
    return IndexEntry(
        kind="entity",
        ref=entity.entity_id,
        entity_id=entity.entity_id,
        title=entity.title,
        body=entity.description,
        language=None,
        reach=entity.member_count or 0,
        published_at=entity.published_at,
    )


def post_entry(post: Post, entity: Entity | None) -> IndexEntry:
    return IndexEntry(
        kind="post",
        ref=post.post_id,
        entity_id=post.entity_id,
        title=None,
        body=post.text,
        language=post.language,
        reach=(entity.member_count or 0) if entity else 0,
        published_at=post.published_at,
    )


def _settle(
    session: Session,
    item: ModerationItem | None,
    *,
    summary: ScanSummary,
    signals: list[Signal],
    digest: str,
    target: Target,
    version: str,
    now: datetime,
    ordered_down: str | None = None,
) -> str:
    """The item's state after this scan. A human decision on unchanged content stands,
    and so does an order that removed the item, whatever its content says now."""
    if ordered_down == ordered.REMOVED:
        _keep_removed(session, item, target=target, digest=digest, version=version, now=now)
        summary.kept_human_decision += 1
        return "removed"
    if item is not None and item.human_decided_at is not None and item.content_digest == digest:
        summary.kept_human_decision += 1
        return item.state
    verdict = judge(signals)
    item = _apply(
        session, item, target=target, verdict=verdict, digest=digest, version=version, now=now
    )
    setattr(summary, item.state, getattr(summary, item.state) + 1)
    if verdict.category:
        summary.by_category[verdict.category] += 1
    return item.state


def _keep_removed(
    session: Session,
    item: ModerationItem | None,
    *,
    target: Target,
    digest: str,
    version: str,
    now: datetime,
) -> None:
    """An item an order removed stays removed: first seen by moderation after the order
    (the item is made then), or edited since."""
    if item is None:
        item = ModerationItem(
            kind=target.kind,
            ref=target.ref,
            entity_id=target.entity.entity_id,
            signals=[],
            signal_sources="",
            model_version=version,
            confidence=0.0,
            reach=target.entity.member_count or 0,
            version=0,
        )
        session.add(item)
    elif item.state == "removed" and item.content_digest == digest:
        return
    item.owner_user_id = target.owner_user_id
    item.state = "removed"
    item.content_digest = digest
    item.human_decided_at = item.human_decided_at or now
    # Decided by law: nothing waits for a moderator (``clear`` bumps the version).
    reasons.clear(item, now=now)
    session.flush()


def _items(session: Session, kind: str, refs: list[str]) -> dict[str, ModerationItem]:
    rows = session.execute(
        select(ModerationItem).where(ModerationItem.kind == kind, ModerationItem.ref.in_(refs))
    ).scalars()
    return {item.ref: item for item in rows}


def _entity_states(session: Session, entity_ids: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(ModerationItem.ref, ModerationItem.state).where(
            ModerationItem.kind == "entity", ModerationItem.ref.in_(entity_ids)
        )
    ).all()
    return {ref: state for ref, state in rows}


def _restricted_post_shares(session: Session, entity_ids: list[str]) -> dict[str, tuple[int, int]]:
    if not entity_ids:
        return {}
    rows = session.execute(
        select(
            ModerationItem.entity_id,
            func.sum(case((ModerationItem.state.in_(["restricted", "removed"]), 1), else_=0)),
            func.count(),
        )
        .where(ModerationItem.kind == "post", ModerationItem.entity_id.in_(entity_ids))
        .group_by(ModerationItem.entity_id)
    ).all()
    return {entity_id: (int(restricted or 0), int(total)) for entity_id, restricted, total in rows}


def _dominant_category(session: Session, entity_id: str) -> tuple[str, int]:
    row = session.execute(
        select(ModerationItem.category, func.count())
        .where(
            ModerationItem.kind == "post",
            ModerationItem.entity_id == entity_id,
            ModerationItem.state.in_(["restricted", "removed"]),
            ModerationItem.category.is_not(None),
        )
        .group_by(ModerationItem.category)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return (str(row[0]), int(row[1])) if row else ("spam", 0)


def _apply(
    session: Session,
    item: ModerationItem | None,
    *,
    target: Target,
    verdict: Verdict,
    digest: str,
    version: str,
    now: datetime,
) -> ModerationItem:
    kind, ref, entity = target.kind, target.ref, target.entity
    was_restricted = item is not None and item.state == "restricted"
    if item is None:
        item = ModerationItem(kind=kind, ref=ref, entity_id=entity.entity_id, signals=[])
        session.add(item)
    reach = entity.member_count or 0
    # A scan replaces its own signals and its own reason only: a case of user reports, a
    # trusted flagger's notice or an appeal keeps its reason and its priority.
    kept = [s for s in item.signals if s.get("source") == "reports"]
    signals = [s.as_dict() for s in verdict.signals] + kept
    judged = {
        "owner_user_id": target.owner_user_id,
        "state": verdict.state,
        "category": verdict.category,
        "confidence": verdict.confidence,
        "reach": reach,
        "signals": signals,
        "signal_sources": source_marks(str(s["source"]) for s in signals),
        "content_digest": digest,
        "human_decided_at": None,
    }
    changed = any(getattr(item, name) != value for name, value in judged.items())
    for name, value in judged.items():
        setattr(item, name, value)
    # Which versions judged the item last; alone, not a change of the item (a rescan that
    # finds nothing new leaves it, its queue place and its version as they were).
    item.model_version = version
    automated = {"queued": "auto_review", "restricted": "auto_restrict"}.get(verdict.state)
    if automated is None:
        reasons.drop(item, *reasons.AUTOMATED, now=now)
    else:
        scored = priority(verdict.category, verdict.confidence, reach)
        current = reasons.active(item)
        wanted = {r: p for r, p in current.items() if r not in reasons.AUTOMATED}
        wanted[automated] = round(scored, 4)
        if item.queue_reasons is None or current != wanted:
            reasons.put(item, automated, scored, now=now, replacing=reasons.AUTOMATED)
    if changed or item.updated_at is None:
        item.updated_at = now
    if verdict.state == "restricted" and not was_restricted and verdict.category:
        session.flush()  # the decision names the item's id
        category = policy().categories[verdict.category]
        decision = ModerationDecision(
            item_id=item.id,
            moderator_id=None,
            action="remove_from_search",
            category=verdict.category,
            ground_type="illegal" if category.illegal else "terms",
            ground=category.ground,
            explanation=(
                f"Automated detection ({version}) scored this item {verdict.confidence:.2f} "
                f"for {verdict.category.replace('_', ' ')}; it is out of search until a "
                "moderator confirms or reverses the decision."
            ),
            automation="fully",
            signals=item.signals,
            created_at=now,
        )
        session.add(decision)
        session.flush()
        issue_statement(
            session,
            decision=decision,
            item=item,
            content_date=target.content_date,
            language=target.language,
            has_media=target.has_media,
            now=now,
        )
        audit.record(
            session,
            events.ItemRestricted(
                category=verdict.category,
                ground_type=decision.ground_type,
                score=verdict.confidence,
                automated=True,
                model_version=version,
                signals=[s.source for s in verdict.signals if s.category == verdict.category],
            ),
            actor=ACTOR,
            target=f"{kind}:{ref}",
        )
    if kind == "post" and hotline.csam_matches(item.signals):
        session.flush()
        # Known child sexual abuse material: reported to the hotline without waiting for
        # a moderator (who may still confirm; it stays one report).
        hotline.open_report(session, item=item, trigger="hash_match", now=now)
    return item


def source_marks(sources: Iterable[str]) -> str:
    marks = sorted(set(sources))
    return f",{','.join(marks)}," if marks else ""


def _record(
    session: Session, kind: type[events.ScanSummary], summary: ScanSummary, version: str
) -> None:
    scanned = kind(
        scanned=summary.scanned,
        visible=summary.visible,
        queued=summary.queued,
        restricted=summary.restricted,
        removed=summary.removed,
        kept_human_decision=summary.kept_human_decision,
        automated=True,
        model_version=version,
    )
    audit.record(session, scanned, actor=ACTOR)

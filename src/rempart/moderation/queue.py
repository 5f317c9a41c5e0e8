"""The review queue and human decisions. Machines propose; a moderator decides, with a
policy category and a ground, and every restricting decision yields a statement of reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression

from rempart.audit import service as audit
from rempart.auth.models import Principal
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.core.settings import Settings
from rempart.moderation import events, presets, reasons
from rempart.moderation.exceptions import (
    AppealOutcomeStands,
    ClaimRequired,
    ItemChanged,
    ItemClaimed,
    ItemNotFound,
    NotPending,
    RemovedByOrder,
    UnknownCategory,
)
from rempart.moderation.hooks import appeals, hotline, ordered, outcomes
from rempart.moderation.media import forget_post_media
from rempart.moderation.models import (
    ModerationDecision,
    ModerationItem,
    ReviewMedia,
    StatementOfReasons,
)
from rempart.moderation.pipeline import entity_entry, post_entry
from rempart.moderation.schemas import (
    DecisionAction,
    DecisionCreate,
    DecisionRead,
    GroundType,
    ItemState,
    QueueItem,
    QueuePage,
)
from rempart.moderation.signals import policy
from rempart.moderation.statements import RESTRICTING, issue_statement
from rempart.platform import actions as platform_actions
from rempart.platform.models import Entity, Post, PostMedia
from rempart.search import service as search

CLAIM_FOR = timedelta(minutes=15)
BULK_LIMIT = 1000
# An item's states: visible (in search), queued (in search, awaiting review), restricted
# (out of search), removed, suspended.
ITEM_STATES = tuple(state.value for state in ItemState)
STATE_AFTER = {
    DecisionAction.NO_VIOLATION: "visible",
    DecisionAction.REMOVE_FROM_SEARCH: "restricted",
    DecisionAction.REMOVE_CONTENT: "removed",
    DecisionAction.SUSPEND_ENTITY: "suspended",
    DecisionAction.SUSPEND_ACCOUNT: "suspended",
}


@dataclass(frozen=True)
class QueueFilter:
    category: str | None = None
    reason: str | None = None
    source: str | None = None  # a signal source: rules, hash, classifier, reports
    # The moderator looking: appeals against their own decisions are not theirs to see.
    viewer: Caller | None = None

    def conditions(self) -> list[Any]:
        conditions: list[Any] = [ModerationItem.pending_review.is_(True)]
        if self.viewer is not None:
            conditions.append(appeals.excluded_for(self.viewer))
        if self.category:
            conditions.append(ModerationItem.category == self.category)
        if self.reason:
            # Any active reason, not only the one shown: a trusted flagger's case on an item
            # a scan also flagged is still a trusted flagger's case.
            conditions.append(ModerationItem.reason_marks.contains(f",{self.reason},"))
        if self.source:
            conditions.append(ModerationItem.signal_sources.contains(f",{self.source},"))
        return conditions


def list_queue(
    session: Session,
    *,
    where: QueueFilter,
    older_than: timedelta | None,
    limit: int,
    offset: int,
    order: str = "priority",
) -> QueuePage:
    """The items waiting for review, by priority (the default), longest waiting first
    (``oldest``) or widest audience first (``reach``)."""
    now = now_of(session)
    query = select(ModerationItem).where(*where.conditions())
    if older_than is not None:
        query = query.where(ModerationItem.queued_at <= now - older_than)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    first: UnaryExpression[Any] = ModerationItem.priority.desc()
    if order == "oldest":
        first = ModerationItem.queued_at.asc()
    elif order == "reach":
        first = ModerationItem.reach.desc()
    items = (
        session.execute(
            query.order_by(first, ModerationItem.priority.desc(), ModerationItem.id)
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return QueuePage(items=_views(session, list(items)), total=total)


SAVED_VIEWS = ("user_report", "trusted_flagger", "appeal", "suspected_raid", "auto_review")


def view_counts(session: Session, *, viewer: Caller) -> dict[str, int]:
    """How many items wait in each saved view (a queue reason), for the queue's tabs."""
    return {
        reason: session.execute(
            select(func.count())
            .select_from(ModerationItem)
            .where(*QueueFilter(reason=reason, viewer=viewer).conditions())
        ).scalar_one()
        for reason in SAVED_VIEWS
    }


def claim_next(session: Session, *, caller: Caller, where: QueueFilter) -> QueueItem | None:
    """The highest-priority item nobody holds, now held by the caller for 15 minutes.

    On PostgreSQL ``SKIP LOCKED`` lets concurrent moderators each take a different item;
    SQLite serialises writers, which gives the same guarantee.
    """
    now = now_of(session)
    query = (
        select(ModerationItem)
        .where(
            *where.conditions(),
            or_(ModerationItem.claimed_until.is_(None), ModerationItem.claimed_until < now),
            appeals.excluded_for(caller),
        )
        .order_by(ModerationItem.priority.desc(), ModerationItem.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    item = session.execute(query).scalar_one_or_none()
    if item is None:
        return None
    return _hold(session, item, caller=caller, now=now)


def claim(session: Session, *, caller: Caller, item_id: int) -> QueueItem:
    """Hold one item named by the moderator, if it waits for review and nobody holds it."""
    now = now_of(session)
    item = session.get(ModerationItem, item_id, with_for_update=True)
    if item is None:
        raise ItemNotFound("No moderation item has this id.")
    if not item.pending_review:
        raise NotPending("This item is not waiting for review.")
    if _held_by_other(item, caller, now):
        raise ItemClaimed("Another moderator holds this item.")
    appeals.before_decision(session, item=item, caller=caller)
    return _hold(session, item, caller=caller, now=now)


def _held_by_other(item: ModerationItem, caller: Caller, now: datetime) -> bool:
    return (
        item.claimed_by not in (None, caller.principal_id)
        and item.claimed_until is not None
        and as_utc(item.claimed_until) > now
    )


def _hold(session: Session, item: ModerationItem, *, caller: Caller, now: datetime) -> QueueItem:
    item.claimed_by = caller.principal_id
    item.claimed_until = now + CLAIM_FOR
    audit.record(
        session, events.ItemClaimed(), actor=caller.actor, target=f"{item.kind}:{item.ref}"
    )
    session.flush()
    return _views(session, [item])[0]


def _views(session: Session, items: list[ModerationItem]) -> list[QueueItem]:
    post_ids = [i.ref for i in items if i.kind == "post"]
    texts = {
        p.post_id: p.text
        for p in session.execute(select(Post).where(Post.post_id.in_(post_ids))).scalars()
    }
    entity_texts = {
        e.entity_id: f"{e.title}\n{e.description or ''}"
        for e in session.execute(
            select(Entity).where(Entity.entity_id.in_([i.ref for i in items if i.kind == "entity"]))
        ).scalars()
    }
    media: dict[str, list[dict[str, object]]] = {}
    rows = session.execute(
        select(PostMedia, ReviewMedia.kept_until)
        .outerjoin(ReviewMedia, ReviewMedia.media_id == PostMedia.id)
        .where(PostMedia.post_id.in_(post_ids))
        .order_by(PostMedia.post_id, PostMedia.position)
    )
    for m, kept_until in rows:
        held = kept_until is not None and as_utc(kept_until) > now_of(session)
        media.setdefault(m.post_id, []).append(
            {
                "id": m.id,
                "position": m.position,
                "sha256": m.sha256,
                "pdq": m.pdq,
                "status": m.status,
                "preview_url": f"/v1/moderation/media/{m.id}/preview" if held else None,
                "reveal_url": f"/v1/moderation/media/{m.id}/reveal" if held else None,
            }
        )
    holders = {
        pid: name
        for pid, name in session.execute(
            select(Principal.id, Principal.name).where(
                Principal.id.in_([i.claimed_by for i in items if i.claimed_by])
            )
        )
    }
    return [
        QueueItem(
            id=i.id,
            kind=i.kind,
            ref=i.ref,
            entity_id=i.entity_id,
            state=i.state,
            queue_reason=i.queue_reason,
            category=i.category,
            confidence=i.confidence,
            priority=i.priority,
            reasons=reasons.active(i),
            version=i.version or 0,
            reach=i.reach,
            signals=i.signals,
            model_version=i.model_version,
            text=texts.get(i.ref) if i.kind == "post" else entity_texts.get(i.ref),
            media=media.get(i.ref, []),
            queued_at=as_utc(i.queued_at) if i.queued_at else None,
            claimed_by=holders.get(i.claimed_by) if i.claimed_by else None,
            claimed_until=as_utc(i.claimed_until) if i.claimed_until else None,
        )
        for i in items
    ]


def item_view(session: Session, *, item_id: int) -> QueueItem | None:
    item = session.get(ModerationItem, item_id)
    return _views(session, [item])[0] if item is not None else None


def decisions_of(session: Session, *, item_id: int) -> list[ModerationDecision]:
    """Earlier decisions on an item, newest first."""
    return list(
        session.execute(
            select(ModerationDecision)
            .where(ModerationDecision.item_id == item_id)
            .order_by(ModerationDecision.id.desc())
        ).scalars()
    )


def decide_many(
    session: Session,
    *,
    caller: Caller,
    item_ids: list[int],
    action: DecisionAction,
    category: str,
    explanation: str,
    settings: Settings,
    actions: platform_actions.PlatformActions,
    preset: str | None = None,
) -> tuple[int, dict[int, str]]:
    """One decision applied to many items (at most ``BULK_LIMIT``), each with its own
    statement of reasons. Items that cannot be decided are skipped with the reason."""
    done, skipped = 0, {}
    for item_id in item_ids[:BULK_LIMIT]:
        data = DecisionCreate(
            item_id=item_id,
            action=action,
            category=category,
            explanation=explanation,
            preset=preset,
        )
        try:
            with session.begin_nested():
                decide(
                    session,
                    caller=caller,
                    data=data,
                    settings=settings,
                    actions=actions,
                    bulk=True,
                )
            done += 1
        except RempartError as exc:
            skipped[item_id] = exc.code
            if isinstance(exc, RemovedByOrder):
                record_refused(session, caller=caller, item_id=item_id, error=exc)
    return done, skipped


def decide(
    session: Session,
    *,
    caller: Caller,
    data: DecisionCreate,
    settings: Settings,
    actions: platform_actions.PlatformActions,
    bulk: bool = False,
) -> DecisionRead:
    """One human decision. The decider holds the item (a claim), or names the version of
    the item they looked at; either way two moderators cannot both decide one item, and a
    decision on an item that changed since it was read is refused. A bulk decision takes
    only items still waiting for review that nobody else holds."""
    now = now_of(session)
    # Locked: a concurrent decision waits here, then sees the new version.
    item = session.get(ModerationItem, data.item_id, with_for_update=True)
    if item is None:
        raise ItemNotFound("No moderation item has this id.")
    categories = policy().categories
    if data.category not in categories and data.action is not DecisionAction.NO_VIOLATION:
        raise UnknownCategory("Choose a policy category: " + ", ".join(sorted(categories)) + ".")
    restricting = data.action.value in RESTRICTING
    if data.preset is not None:
        presets.check(data.preset, category=data.category, restricting=restricting)
    if _held_by_other(item, caller, now):
        raise ItemClaimed("Another moderator holds this item.")
    pending_appeals = appeals.before_decision(session, item=item, caller=caller)
    held = (
        item.claimed_by == caller.principal_id
        and item.claimed_until is not None
        and as_utc(item.claimed_until) > now
    )
    if data.version is not None and data.version != (item.version or 0):
        raise ItemChanged(
            "The item changed since you looked at it (a decision, a report or an appeal); "
            "look again."
        )
    if bulk and not item.pending_review:
        raise NotPending("This item is no longer waiting for review.")
    if not (held or bulk or data.version is not None):
        raise ClaimRequired("Claim the item, or send the version of the item you decide on.")
    _order_stands(session, item, data.action)
    _outcome_stands(session, item, data)
    ground = data.ground or (
        categories[data.category].ground if data.category in categories else "Terms of Service"
    )
    decision = ModerationDecision(
        item_id=item.id,
        moderator_id=caller.principal_id,
        action=data.action.value,
        category=data.category,
        ground_type=data.ground_type.value,
        ground=ground,
        explanation=data.explanation,
        # A human decided; machines may have suggested it.
        automation="partially" if item.signals else "not",
        signals=item.signals,
        created_at=now,
    )
    session.add(decision)
    session.flush()
    item.state = STATE_AFTER[data.action]
    reasons.clear(item, now=now)
    item.human_decided_at = now
    item.category = data.category if data.action is not DecisionAction.NO_VIOLATION else None
    item.updated_at = now
    _apply_to_search(session, item)
    restricting = data.action.value in RESTRICTING
    report = None
    if restricting and data.category == hotline.CSAM_CATEGORY:
        report = hotline.open_report(
            session, item=item, trigger="decision", now=now, decision_id=decision.id
        )
    if item.kind == "post" and not hotline.takes_media(report):
        # A report still to send keeps the originals until its evidence is preserved.
        forget_post_media(session, post_id=item.ref)
    statement = None
    if restricting:
        content_date, language, has_media = _content_facts(session, item)
        statement = issue_statement(
            session,
            decision=decision,
            item=item,
            content_date=content_date,
            language=language,
            has_media=has_media,
            now=now,
            source_type=outcomes.statement_source(session, item=item),
            # The owner's language, where known, is the language their content is in.
            explanation=presets.in_language(data.preset, decision.explanation, language),
        )
    outcomes.after_decision(
        session,
        settings=settings,
        actions=actions,
        item=item,
        decision=decision,
        restricting=restricting,
        reports_unfounded=data.reports_unfounded,
        manifestly_illegal=data.manifestly_illegal,
        now=now,
    )
    appeals.settle(session, pending=pending_appeals, decision=decision, caller=caller, now=now)
    actions.plan_decision(
        session,
        platform_actions.Decided(
            item_id=item.id,
            decision_id=decision.id,
            kind=item.kind,
            ref=item.ref,
            entity_id=item.entity_id,
            action=decision.action,
            after_appeal=bool(pending_appeals),
            manifestly_illegal=data.manifestly_illegal,
        ),
        now=now,
    )
    audit.record(
        session,
        events.DecisionTaken(
            action_taken=decision.action,
            category=decision.category,
            ground_type=decision.ground_type,
            automation=decision.automation,
            statement=statement.puid if statement else None,
            appeals=len(pending_appeals),
            new_facts=data.new_facts,
            preset=data.preset,
        ),
        actor=caller.actor,
        target=f"{item.kind}:{item.ref}",
    )
    session.flush()
    return DecisionRead(
        id=decision.id,
        item_id=item.id,
        action=data.action,
        category=decision.category,
        ground_type=GroundType(decision.ground_type),
        ground=decision.ground,
        automation=decision.automation,
        state=item.state,
        statement_puid=statement.puid if statement else None,
        created_at=now,
    )


def _order_stands(session: Session, item: ModerationItem, action: DecisionAction) -> None:
    """An item an authority's order removed stays removed, and one it disabled in some
    Member States stays out of search: no decision, on an appeal or not, lifts either.
    Stricter decisions (removal, suspension) remain the platform's to take."""
    own = ordered.ordered_down(session, kind=item.kind, refs=[item.ref]).get(item.ref)
    channel = (
        ordered.ordered_down(session, kind="entity", refs=[item.entity_id]).get(item.entity_id)
        if item.kind == "post"
        else None
    )
    after = STATE_AFTER[action]
    if ((own or channel) and after == "visible") or (
        own == ordered.REMOVED and after == "restricted"
    ):
        raise RemovedByOrder(
            "An authority's order took this item down; a decision cannot bring it back. "
            "Only the order's own course (its withdrawal or annulment) can.",
            order_action=own or channel,
        )


def decide_recorded(rt: Runtime, *, caller: Caller, data: DecisionCreate) -> DecisionRead:
    """One human decision, as the API and the console take it. Owns its transactions: a
    decision refused because an order to act keeps the item down rolls back, and the
    refusal is then recorded in a transaction of its own."""
    try:
        with rt.unit_of_work() as session:
            return decide(
                session,
                caller=caller,
                data=data,
                settings=rt.settings,
                actions=rt.port(platform_actions.PORT),
            )
    except RemovedByOrder as exc:
        with rt.unit_of_work() as session:
            record_refused(session, caller=caller, item_id=data.item_id, error=exc)
        raise


def record_refused(
    session: Session, *, caller: Caller, item_id: int, error: RemovedByOrder
) -> None:
    """A decision refused because an order stands leaves a trace (in its own
    transaction: the refused one is rolled back)."""
    item = session.get(ModerationItem, item_id)
    audit.record(
        session,
        events.DecisionRefused(code=error.code, order_action=error.details.get("order_action")),
        actor=caller.actor,
        target=f"{item.kind}:{item.ref}" if item is not None else None,
    )


def _outcome_stands(session: Session, item: ModerationItem, data: DecisionCreate) -> None:
    """An appeal's outcome stands until a new appeal, a new notice or a scan reopens the
    item, or the moderator records new facts."""
    if item.pending_review or data.new_facts:
        return
    latest = session.execute(
        select(ModerationDecision.id)
        .where(ModerationDecision.item_id == item.id)
        .order_by(ModerationDecision.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is not None and appeals.settled_by(session, decision_id=latest):
        raise AppealOutcomeStands(
            "This item's last decision answered an appeal; it stands unless you record new "
            "facts (new_facts)."
        )


def _apply_to_search(session: Session, item: ModerationItem) -> None:
    if item.state != "visible":
        if item.kind == "entity":
            search.remove_entity(session, entity_id=item.ref)
        else:
            search.remove(session, items=[(item.kind, item.ref)])
        return
    if item.kind == "post":
        post = session.execute(select(Post).where(Post.post_id == item.ref)).scalar_one_or_none()
        if post is None or post.deleted_at is not None:
            return
        entity = session.execute(
            select(Entity).where(Entity.entity_id == post.entity_id)
        ).scalar_one_or_none()
        search.put(session, entries=[post_entry(post, entity)])
    else:
        from rempart.moderation import tasks

        entity = session.execute(
            select(Entity).where(Entity.entity_id == item.ref)
        ).scalar_one_or_none()
        if entity is None or entity.deleted_at is not None:
            return
        search.put(session, entries=[entity_entry(entity)])
        # Its posts come back with a rescan, which also judges what they say now.
        tasks.enqueue_scan(session, entity_ids=[], post_ids=_post_ids(session, item.ref))


def _post_ids(session: Session, entity_id: str) -> list[str]:
    return list(
        session.execute(
            select(Post.post_id).where(Post.entity_id == entity_id, Post.deleted_at.is_(None))
        ).scalars()
    )


def _content_facts(session: Session, item: ModerationItem) -> tuple[datetime, str | None, bool]:
    if item.kind == "post":
        post = session.execute(select(Post).where(Post.post_id == item.ref)).scalar_one()
        has_media = (
            session.execute(select(PostMedia.id).where(PostMedia.post_id == item.ref)).first()
            is not None
        )
        return as_utc(post.published_at), post.language, has_media
    entity = session.execute(select(Entity).where(Entity.entity_id == item.ref)).scalar_one()
    return as_utc(entity.published_at), None, False


def statement_of(session: Session, *, puid: str) -> StatementOfReasons | None:
    return session.execute(
        select(StatementOfReasons).where(StatementOfReasons.puid == puid)
    ).scalar_one_or_none()

"""Carrying out an order to act or a removal order: preserve the content and related data
for six months (TCO Art. 6), disable it through the platform-actions port, tell the
authority when and how (DSA Art. 9(1), TCO Art. 3(3)), and schedule the owner's notice
with the order's reference, at once or when the delay the authority asked for ends (TCO
Art. 11). The worker runs ``execute``; intake and confirmation are in ``acts``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.notify import Notifier
from rempart.legal import acts, events, suspension
from rempart.legal.exceptions import InvalidTransition
from rempart.legal.models import Authority, Notification, Order, OrderAct, OrderItem
from rempart.legal.notifier import AuthorityNotice
from rempart.legal.schemas import ActOutcome, OrderStatus, OrderType
from rempart.legal.trail import audit_order
from rempart.moderation import reasons
from rempart.moderation.models import ModerationItem
from rempart.notify import service as notify
from rempart.platform.actions import REMOVED, PlatformActions, Takedown
from rempart.platform.models import Entity, Post, PostMedia
from rempart.preservation import service as preservation

# TCO Art. 6(2): removed content and related data are preserved for six months.
EVIDENCE_PERIOD = timedelta(days=183)
# TCO Art. 11(3): the owner may be kept uninformed for up to six weeks on request.
OWNER_NOTICE_DELAY = timedelta(weeks=6)
ACTOR = "system:worker"
EVIDENCE_KIND = {OrderType.REMOVAL: "removal_order", OrderType.ACT: "order_to_act"}
GONE = "gone"


def execute(
    session: Session,
    *,
    order: Order,
    actions: PlatformActions,
    keys: KeyRing,
    notifier: Notifier,
    now: datetime,
) -> bool:
    """Carry out an order to act: preserve, disable, inform. Idempotent: an order already
    acted on, withdrawn or refused is left alone (returns False)."""
    act = acts.act_of(session, order=order)
    if order.status != OrderStatus.CHECKS_PASSED.value or act.outcome != ActOutcome.PENDING:
        return False
    if order.order_type == OrderType.ACT.value and act.confirmed_at is None:
        raise InvalidTransition("An order to act waits for a legal reviewer's confirmation.")
    held = suspension.current_reason(session, order=order)
    if held is not None:
        # Its authority was suspended, or its key revoked, after intake: nothing is done
        # on its word until it is reinstated, when the order is queued again.
        audit_order(session, order, events.ActHeld(reason=held), actor=ACTOR)
        return False
    order_type = OrderType(order.order_type)
    member_states = () if act.territorial_scope == ["EU"] else tuple(act.territorial_scope)
    owners: set[str] = set()
    done: Counter[str] = Counter()
    for item in acts.items_of(session, order=order):
        content = _content(session, item=item)
        if content is None:
            # Deleted on the platform between receipt and now: nothing left to disable.
            item.action, item.acted_at = GONE, now
            done[GONE] += 1
            continue
        payload, owner = content
        moderation_item = session.execute(
            select(ModerationItem.id).where(
                ModerationItem.kind == item.kind, ModerationItem.ref == item.ref
            )
        ).scalar_one_or_none()
        evidence = preservation.preserve(
            session,
            kind=EVIDENCE_KIND[order_type],
            item_id=moderation_item,
            account_ref=owner,
            payload={"order": order.reference, **payload},
            legal_basis=f"{_law(order_type)}; order {order.reference}: {order.legal_basis}",
            keep_for=EVIDENCE_PERIOD,
            now=now,
            keys=keys,
        )
        item.action = actions.disable(
            session,
            Takedown(
                kind=item.kind,
                ref=item.ref,
                entity_id=item.entity_id,
                member_states=member_states,
                reason=f"Order {order.reference} ({_law(order_type)})",
                item_id=moderation_item,
            ),
            now=now,
        )
        if item.action == REMOVED and moderation_item is not None:
            _mark_removed(session, item_id=moderation_item, now=now)
        item.acted_at = now
        item.evidence_id = evidence.id
        done[item.action] += 1
        if owner:
            owners.add(owner)
    order.status = OrderStatus.ACTED.value
    order.effected_at = now
    order.decided_at = order.decided_at or now
    act.outcome = ActOutcome.ACTED.value
    received = as_utc(order.received_at)
    audit_order(
        session,
        order,
        events.OrderActed(
            order_type=order.order_type,
            actions=dict(sorted(done.items())),
            territorial_scope=act.territorial_scope,
            minutes_to_act=round((now - received).total_seconds() / 60, 2),
            within_deadline=now <= as_utc(order.due_at),
            evidence_until=(now + EVIDENCE_PERIOD).isoformat(),
        ),
        actor=ACTOR,
    )
    _inform_authority(session, order=order, act=act, notifier=notifier, now=now)
    _schedule_owner_notices(session, order=order, act=act, owners=owners, now=now)
    return True


def _law(order_type: OrderType) -> str:
    if order_type is OrderType.REMOVAL:
        return "Regulation (EU) 2021/784 (TCO), Art. 3 and 6"
    return "Regulation (EU) 2022/2065 (DSA), Art. 9"


def _mark_removed(session: Session, *, item_id: int, now: datetime) -> None:
    """Decided by law, like a moderator's decision: nothing waits in the queue, and a
    rescan of unchanged content keeps it removed."""
    item = session.get(ModerationItem, item_id)
    if item is None:
        return
    item.state = REMOVED
    reasons.clear(item, now=now)
    item.human_decided_at = now
    item.version = (item.version or 0) + 1
    item.updated_at = now


def _content(session: Session, *, item: OrderItem) -> tuple[dict[str, object], str | None] | None:
    """What is preserved of the item (the content and related data), and its owner; None
    when the item no longer exists."""
    entity = session.execute(
        select(Entity).where(Entity.entity_id == item.entity_id)
    ).scalar_one_or_none()
    if entity is None or entity.deleted_at is not None:
        return None
    about_entity: dict[str, object] = {
        "entity_id": entity.entity_id,
        "kind": entity.kind,
        "username": entity.username,
        "title": entity.title,
        "description": entity.description,
        "owner_user_id": entity.owner_user_id,
        "published_at": as_utc(entity.published_at).isoformat(),
    }
    if item.kind == "entity":
        return {"entity": about_entity}, entity.owner_user_id
    post = session.execute(select(Post).where(Post.post_id == item.ref)).scalar_one_or_none()
    if post is None or post.deleted_at is not None:
        return None
    media = session.execute(
        select(PostMedia.position, PostMedia.sha256, PostMedia.md5, PostMedia.pdq).where(
            PostMedia.post_id == post.post_id
        )
    ).all()
    return (
        {
            "post": {
                "post_id": post.post_id,
                "text": post.text,
                "language": post.language,
                "author_user_id": post.author_user_id,
                "published_at": as_utc(post.published_at).isoformat(),
                "edited_at": as_utc(post.edited_at).isoformat() if post.edited_at else None,
                "media": [
                    {"position": m.position, "sha256": m.sha256, "md5": m.md5, "pdq": m.pdq}
                    for m in media
                ],
            },
            "entity": about_entity,
        },
        post.author_user_id or entity.owner_user_id,
    )


def _inform_authority(
    session: Session, *, order: Order, act: OrderAct, notifier: Notifier, now: datetime
) -> None:
    authority = session.get(Authority, order.authority_id)
    assert authority is not None
    items = acts.items_of(session, order=order)
    where = (
        "in the EU" if act.territorial_scope == ["EU"] else "in " + ", ".join(act.territorial_scope)
    )
    notice = AuthorityNotice(
        order_reference=order.reference,
        authority=authority.code,
        contact=authority.contact,
        outcome=act.outcome,
        acted_at=now.isoformat(),
        items=[
            {"reference": i.reference, "action": i.action, "acted_at": now.isoformat()}
            for i in items
        ],
        text_en=(
            f"Order {order.reference} was given effect on {now:%Y-%m-%d at %H:%M} UTC: "
            f"{len(items)} item(s) removed or disabled {where}. The content and related "
            "data are preserved for six months."
        ),
    )
    notify.send(session, notifier, notice.message(), actor=ACTOR, now=now)
    act.authority_informed_at = now
    audit_order(
        session, order, events.AuthorityInformed(outcome=act.outcome, items=len(items)), actor=ACTOR
    )


def _schedule_owner_notices(
    session: Session, *, order: Order, act: OrderAct, owners: set[str], now: datetime
) -> None:
    """The owners hear of the removal with the order's reference through the legal
    notifier's next round, at once or when the delay the authority asked for ends."""
    due = now + OWNER_NOTICE_DELAY if act.delay_informing_owner else now
    for owner in sorted(owners):
        session.add(Notification(order_id=order.id, user_id=owner, due_at=due))
    if owners:
        audit_order(
            session,
            order,
            events.OwnerNoticeScheduled(
                owners=len(owners), delayed=act.delay_informing_owner, due_at=due.isoformat()
            ),
            actor=ACTOR,
        )


def owner_notice_texts(order: Order, authority: Authority) -> tuple[str, str]:
    """What the content's owner reads (TCO Art. 11(1), DSA Art. 9(2)(a)(iii))."""
    law_en = (
        "a removal order for terrorist content"
        if order.order_type == "removal"
        else ("an order to act against illegal content")
    )
    law_fr = (
        "une injonction de retrait de contenu à caractère terroriste"
        if order.order_type == "removal"
        else "une injonction d'agir contre un contenu illicite"
    )
    day = as_utc(order.effected_at or order.received_at).date().isoformat()
    return (
        f"On {day} we removed or disabled your content in answer to {law_en} from "
        f"{authority.name} ({authority.country}), reference {order.reference}. You may ask "
        "us for the statement of reasons and challenge the order before the courts of "
        f"{authority.country}.",
        f"Le {day}, nous avons retiré ou rendu inaccessible votre contenu en exécution "
        f"d'{law_fr} émanant de {authority.name} ({authority.country}), référence "
        f"{order.reference}. Vous pouvez nous demander la motivation et contester "
        f"l'injonction devant les juridictions de {authority.country}.",
    )

"""Orders to act against illegal content (DSA Art. 9) and removal orders for terrorist
content (Regulation (EU) 2021/784, "TCO").

They arrive like information orders (a JWS from a registered authority's key, the
document's hash bound) but ask the platform to act, never to disclose: an order to act
holds no data category, and the review and release paths refuse it. A removal order is
carried out by the worker at once, within the hour TCO Art. 3(3) allows, with no human in
the way; an order to act waits for one legal reviewer's confirmation and its own deadline.
Acting means: preserve the content for six months (TCO Art. 6), disable it through the
platform-actions port, tell the authority when and how (DSA Art. 9(1), TCO Art. 3(3)),
and tell the content's owner, with the order's reference, unless the authority asked for
delay (TCO Art. 11).
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core import jobs
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.errors import RempartError
from rempart.core.settings import Settings
from rempart.legal import checks
from rempart.legal.exceptions import (
    AuthorityNotCompetent,
    InvalidTransition,
    ItemNotFound,
    MalformedOrder,
    ReplayedOrder,
)
from rempart.legal.models import (
    Authority,
    AuthorityKey,
    Notification,
    Order,
    OrderAct,
    OrderDocument,
    OrderItem,
)
from rempart.legal.notifier import AuthorityNotice, Notifier
from rempart.legal.orders import (
    DOCUMENT_PURPOSE,
    JWS_PURPOSE,
    audit_order,
    check_document,
    check_token_times,
    parse_claims,
    refuse_replay,
)
from rempart.legal.schemas import (
    ORDER_TYPES_TO_ACT,
    ActConfirmation,
    ActItem,
    ActItemRead,
    ActOrderClaims,
    ActOutcome,
    ActRead,
    AuthorityStatus,
    Competence,
    OffenceCategory,
    OrderStatus,
    OrderType,
)
from rempart.moderation.models import ModerationItem
from rempart.platform.actions import PlatformActions, Takedown
from rempart.platform.models import Entity, Post, PostMedia
from rempart.preservation import service as preservation
from rempart.reports import targets
from rempart.reports.schemas import Target

# TCO Art. 3(3): "as soon as possible and in any event within one hour of receipt".
REMOVAL_DEADLINE = timedelta(hours=1)
# TCO Art. 6(2): removed content and related data are preserved for six months.
EVIDENCE_PERIOD = timedelta(days=183)
# TCO Art. 11(3): the owner may be kept uninformed for up to six weeks on request.
OWNER_NOTICE_DELAY = timedelta(weeks=6)
EXECUTE_JOB = "legal.act.execute"
ACTOR = "system:worker"
REQUIRED_COMPETENCE = {
    OrderType.REMOVAL: Competence.TCO_REMOVAL,
    OrderType.ACT: Competence.DSA_ORDERS_TO_ACT,
}
EVIDENCE_KIND = {OrderType.REMOVAL: "removal_order", OrderType.ACT: "order_to_act"}
GONE = "gone"


def is_order_to_act(order: Order) -> bool:
    return order.order_type in ORDER_TYPES_TO_ACT


# -- intake -----------------------------------------------------------------------------


def receive_act_order(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    caller: Caller,
    key: AuthorityKey,
    payload: dict[str, Any],
    token: str,
    document: bytes,
    now: datetime,
) -> Order:
    """Check and store an order to act whose signature has verified; raises an
    ``OrderRefused`` before anything is written when any check fails."""
    issuer = key.authority
    claims = parse_claims(payload, ActOrderClaims)
    if claims.iss != issuer.code:
        raise MalformedOrder("The issuer (iss) is not the key's authority.", code="issuer_mismatch")
    check_token_times(iat=claims.iat, exp=claims.exp, now=now)
    order_type = OrderType(claims.order_type)
    _check_competence(issuer, order_type)
    due = now + REMOVAL_DEADLINE if claims.deadline is None else claims.deadline
    if due <= now:
        raise MalformedOrder("The order's deadline has already passed.", code="deadline_passed")
    refuse_replay(session, issuer=issuer, jti=claims.jti)
    check_document(document, sha256=claims.document.sha256, settings=settings)
    resolved = _resolve_items(session, claims.items, link_base=settings.public_link_base)
    order = Order(
        reference=f"ORD-{now:%Y}-{secrets.token_hex(5).upper()}",
        authority_id=issuer.id,
        kid=key.kid,
        jti=claims.jti,
        order_type=order_type.value,
        country=issuer.country,
        case_reference=claims.case_reference,
        legal_basis=claims.legal_basis,
        # The type of illegal content, which the DSA report groups orders by.
        offence_category=(
            OffenceCategory.TERRORISM
            if order_type is OrderType.REMOVAL
            else claims.offence_category or OffenceCategory.OTHER
        ).value,
        offence_description=claims.statement_of_reasons,
        max_penalty_years=None,
        violates_terms=True,
        # Nothing to disclose, ever: the release path finds no category to release.
        requested_categories=[],
        category_outcomes={},
        # An order to act covers no period of records.
        period_start=now,
        period_end=now,
        emergency=False,
        document_sha256=claims.document.sha256,
        jws_ciphertext=keys.encrypt(token, purpose=JWS_PURPOSE),
        status=OrderStatus.CHECKS_PASSED.value,
        risk_flags=[],
        received_at=now,
        # Receipt is acknowledged in the answer to the authority's submission.
        acknowledged_at=now,
        due_at=due,
    )
    session.add(order)
    try:
        session.flush()
    except IntegrityError:
        raise ReplayedOrder("This order (jti) was already received.") from None
    session.add(
        OrderDocument(
            order_id=order.id,
            media_type=claims.document.media_type,
            size=len(document),
            ciphertext=keys.encrypt_bytes(document, purpose=DOCUMENT_PURPOSE),
        )
    )
    session.add(
        OrderAct(
            order_id=order.id,
            territorial_scope=list(claims.territorial_scope),
            statement_of_reasons=claims.statement_of_reasons,
            delay_informing_owner=claims.delay_informing_owner,
            outcome=ActOutcome.PENDING.value,
        )
    )
    for position, (named, found) in enumerate(zip(claims.items, resolved, strict=True)):
        session.add(
            OrderItem(
                order_id=order.id,
                position=position,
                reference=named.label,
                kind=found.kind,
                ref=found.ref,
                entity_id=found.entity_id,
            )
        )
    passed = [
        checks.CheckOutcome(
            "authority_competent",
            checks.PASSED,
            f"The issuer is verified and competent ({REQUIRED_COMPETENCE[order_type]}).",
        ),
        checks.CheckOutcome("items_exist", checks.PASSED, f"{len(resolved)} public item(s) found."),
        checks.CheckOutcome(
            "territorial_scope",
            checks.PASSED,
            "EU-wide."
            if claims.eu_wide
            else "Member States: " + ", ".join(claims.territorial_scope),
        ),
    ]
    checks.store_checks(session, order=order, checks=passed)
    session.flush()
    audit_order(
        session,
        order,
        actor=caller.actor,
        action="legal.order.received",
        details={
            "authority": issuer.code,
            "kid": key.kid,
            "order_type": order.order_type,
            "offence_category": order.offence_category,
            "categories": [],
            "emergency": False,
            "items": len(resolved),
            "territorial_scope": list(claims.territorial_scope),
            "delay_informing_owner": claims.delay_informing_owner,
            "due_at": due.isoformat(),
            "document_sha256": order.document_sha256,
        },
    )
    audit_order(
        session,
        order,
        actor="system:checks",
        action="legal.order.checked",
        details={"status": order.status, "checks": {c.name: c.outcome for c in passed}},
    )
    if order_type is OrderType.REMOVAL:
        # No review: the worker acts at once.
        jobs.enqueue(session, kind=EXECUTE_JOB, payload={"order": order.id})
    session.expire(order, ["targets", "checks", "reviews"])
    return order


def _check_competence(issuer: Authority, order_type: OrderType) -> None:
    if issuer.status != AuthorityStatus.VERIFIED:
        raise AuthorityNotCompetent(
            "Only a verified authority may order content removed.", code="authority_not_verified"
        )
    needed = REQUIRED_COMPETENCE[order_type]
    if needed.value not in (issuer.competences or []):
        raise AuthorityNotCompetent(
            f"This authority is not registered as competent for {needed.value} orders.",
            code="authority_not_competent",
        )


def _resolve_items(
    session: Session, items: list[ActItem], *, link_base: str
) -> list[targets.ResolvedTarget]:
    resolved: list[targets.ResolvedTarget] = []
    for position, item in enumerate(items):
        try:
            target = (
                Target(url=item.url) if item.url is not None else Target(kind=item.kind, id=item.id)
            )
            found = targets.resolve(session, target, link_base=link_base)
        except (RempartError, ValidationError):
            raise ItemNotFound(
                f"Item {position} names no public post or entity on this platform.",
                position=position,
            ) from None
        if any((r.kind, r.ref) == (found.kind, found.ref) for r in resolved):
            raise MalformedOrder(
                f"Item {position} names an item already named.", code="duplicate_item"
            )
        resolved.append(found)
    return resolved


# -- the legal reviewer's confirmation (Art. 9 orders only) ------------------------------


def confirm(
    session: Session, *, order: Order, caller: Caller, data: ActConfirmation, now: datetime
) -> Order:
    """One legal reviewer confirms (the worker then acts) or refuses, with reasons. A
    removal order needs no confirmation: it is already being carried out."""
    act = _act_of(session, order)
    if order.order_type != OrderType.ACT.value:
        raise InvalidTransition("Only an order to act (DSA Art. 9) awaits a confirmation.")
    if order.status != OrderStatus.CHECKS_PASSED.value or act.confirmed_at is not None:
        raise InvalidTransition(f"This order is {order.status} and was already answered.")
    act.confirmed_by = caller.principal_id
    act.confirmed_at = now
    act.reasons = data.reasons
    if data.decision == "refuse":
        order.status = OrderStatus.REFUSED.value
        order.decided_at = order.closed_at = now
        order.refusal = {"grounds": ["other"], "reasons": data.reasons}
        act.outcome = ActOutcome.REFUSED.value
        audit_order(
            session,
            order,
            actor=caller.actor,
            action="legal.order.decided",
            details={"status": order.status, "order_type": order.order_type},
        )
        return order
    order.decided_at = now
    audit_order(
        session,
        order,
        actor=caller.actor,
        action="legal.order.action_confirmed",
        details={"due_at": as_utc(order.due_at).isoformat()},
    )
    jobs.enqueue(session, kind=EXECUTE_JOB, payload={"order": order.id})
    return order


# -- acting -----------------------------------------------------------------------------


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
    act = _act_of(session, order)
    if order.status != OrderStatus.CHECKS_PASSED.value or act.outcome != ActOutcome.PENDING:
        return False
    if order.order_type == OrderType.ACT.value and act.confirmed_at is None:
        raise InvalidTransition("An order to act waits for a legal reviewer's confirmation.")
    order_type = OrderType(order.order_type)
    member_states = () if act.territorial_scope == ["EU"] else tuple(act.territorial_scope)
    owners: set[str] = set()
    done: Counter[str] = Counter()
    for item in _items_of(session, order):
        content = _content(session, item)
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
            ),
            now=now,
        )
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
        actor=ACTOR,
        action="legal.order.acted",
        details={
            "order_type": order.order_type,
            "actions": dict(sorted(done.items())),
            "territorial_scope": act.territorial_scope,
            "minutes_to_act": round((now - received).total_seconds() / 60, 2),
            "within_deadline": now <= as_utc(order.due_at),
            "evidence_until": (now + EVIDENCE_PERIOD).isoformat(),
        },
    )
    _inform_authority(session, order=order, act=act, notifier=notifier, now=now)
    _schedule_owner_notices(session, order=order, act=act, owners=owners, now=now)
    return True


def _law(order_type: OrderType) -> str:
    if order_type is OrderType.REMOVAL:
        return "Regulation (EU) 2021/784 (TCO), Art. 3 and 6"
    return "Regulation (EU) 2022/2065 (DSA), Art. 9"


def _content(session: Session, item: OrderItem) -> tuple[dict[str, object], str | None] | None:
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
    items = _items_of(session, order)
    where = (
        "in the EU" if act.territorial_scope == ["EU"] else "in " + ", ".join(act.territorial_scope)
    )
    notifier.send_authority(
        AuthorityNotice(
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
    )
    act.authority_informed_at = now
    audit_order(
        session,
        order,
        actor=ACTOR,
        action="legal.order.authority_informed",
        details={"outcome": act.outcome, "items": len(items)},
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
            actor=ACTOR,
            action="legal.owner_notice.scheduled",
            details={
                "owners": len(owners),
                "delayed": act.delay_informing_owner,
                "due_at": due.isoformat(),
            },
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


# -- reads ------------------------------------------------------------------------------


def _act_of(session: Session, order: Order) -> OrderAct:
    act = session.get(OrderAct, order.id)
    if act is None:
        raise InvalidTransition("This is not an order to act.")
    return act


def _items_of(session: Session, order: Order) -> list[OrderItem]:
    return list(
        session.execute(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)
        ).scalars()
    )


def act_read(session: Session, order: Order, *, now: datetime) -> ActRead:
    act = _act_of(session, order)
    effected = as_utc(order.effected_at) if order.effected_at else None
    due = as_utc(order.due_at)
    received = as_utc(order.received_at)
    return ActRead(
        outcome=ActOutcome(act.outcome),
        territorial_scope=act.territorial_scope,
        statement_of_reasons=act.statement_of_reasons,
        delay_informing_owner=act.delay_informing_owner,
        deadline_missed=(effected or now) > due and act.outcome != ActOutcome.REFUSED,
        confirmed_at=as_utc(act.confirmed_at) if act.confirmed_at else None,
        reasons=act.reasons,
        authority_informed_at=(
            as_utc(act.authority_informed_at) if act.authority_informed_at else None
        ),
        minutes_to_act=(round((effected - received).total_seconds() / 60, 2) if effected else None),
        items=[
            ActItemRead(
                position=i.position,
                reference=i.reference,
                kind=i.kind,
                ref=i.ref,
                action=i.action,
                acted_at=as_utc(i.acted_at) if i.acted_at else None,
            )
            for i in _items_of(session, order)
        ],
    )


def outcomes_of(session: Session, order_ids: list[int]) -> dict[int, str]:
    """The act outcome of each of these orders that is an order to act (for lists)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(OrderAct.order_id, OrderAct.outcome).where(OrderAct.order_id.in_(order_ids))
    )
    return {order_id: outcome for order_id, outcome in rows}

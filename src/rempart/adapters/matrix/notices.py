"""What Rempart tells Matrix users, told on Matrix too: statements of reasons, report
outcomes, Art. 23 warnings and suspensions, appeal outcomes, as server notices.

The notifier (the outbox) stays the record of what was sent; once it has sent a message to
a Matrix user (``@user:server``), the message is queued here as a ``server_notice`` action,
which the worker carries out like any other homeserver action (retried, audited). A
statement's appeal link is a secret that the notifier does not keep: the notice carries a
link of its own, for the same decision and party. What the user may appeal is also said in
Rempart's own room with them, where they may appeal by writing (``bot``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix import bot
from rempart.adapters.matrix.progress import ADAPTER, cursors, save
from rempart.core.clock import as_utc
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem, StatementOfReasons
from rempart.platform.models import PlatformAction
from rempart.reports import notices
from rempart.reports.models import Notice, Reporter

ACTION = "server_notice"
BATCH = 500
LAG = 200

_DECISIONS = {
    "remove_from_search": "taken out of search",
    "remove_content": "removed",
    "suspend_entity": "suspended (the room)",
    "suspend_account": "suspended (your account)",
    "no_violation": "kept: no violation found",
}


def _matrix_user(user_id: str | None) -> bool:
    return bool(user_id and user_id.startswith("@") and ":" in user_id)


def _on_homeserver(session: Session, decision: ModerationDecision) -> str:
    """What the decision does to the message on the homeserver, and when: the rule."""
    planned = set(
        session.execute(
            select(PlatformAction.action).where(PlatformAction.decision_id == decision.id)
        ).scalars()
    )
    if "takedown" in planned:
        return (
            "It was deleted from the homeserver at once, with its files: content matched to "
            "known illegal material or manifestly illegal is not left online while an "
            "appeal is possible.\n"
        )
    if "redact" in planned:
        return (
            "It is hidden from search now and will be deleted from the homeserver once the "
            "decision is final: when the time to appeal has passed, or an appeal is "
            "rejected.\n"
        )
    return ""


def _statement_text(
    session: Session,
    decision: ModerationDecision,
    item: ModerationItem,
    puid: str,
    link: str,
    until: datetime,
) -> str:
    what = "message" if item.kind == "post" else "room"
    return (
        f"Rempart, statement of reasons {puid}\n"
        f"Your {what} {item.ref} was {_DECISIONS.get(decision.action, decision.action)}.\n"
        f"Category: {decision.category}. Ground ({decision.ground_type}): {decision.ground}\n"
        f"Why: {decision.explanation}\n"
        + _on_homeserver(session, decision)
        + f"You may appeal until {until.date().isoformat()}: {link}"
    )


def _notice_text(kind: str, body: dict[str, Any]) -> str:
    lines = [f"Rempart: {kind.replace('_', ' ')}"]
    decision = body.get("decision")
    if decision:
        lines.append(f"Decision: {_DECISIONS.get(str(decision), str(decision))}")
    for key, label in (
        ("target", "About"),
        ("category", "Category"),
        ("explanation", "Why"),
        ("reason", "Why"),
        ("until", "Until"),
        ("outcome", "Outcome"),
        ("appeal_until", "Appeal until"),
        ("appeal_link", "Appeal"),
    ):
        if body.get(key):
            lines.append(f"{label}: {body[key]}")
    return "\n".join(lines)


def _refusal(session: Session, notice: Notice) -> tuple[str, datetime] | None:
    """A reporter's notice of a refusal to act: (the decision's reference, appeal until)."""
    body = notice.body
    if notice.kind != "report_decision" or body.get("decision") != "no_violation":
        return None
    kind, _, ref = str(body.get("target", "")).partition(":")
    decision = session.execute(
        select(ModerationDecision)
        .join(ModerationItem, ModerationItem.id == ModerationDecision.item_id)
        .where(ModerationItem.kind == kind, ModerationItem.ref == ref)
        .order_by(ModerationDecision.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if decision is None or decision.action != "no_violation" or not body.get("appeal_until"):
        return None
    return bot.decision_reference(decision.id), datetime.fromisoformat(str(body["appeal_until"]))


def _told(session: Session, users: set[str]) -> set[str]:
    """What these users were already told on Matrix (by the action's ``reason``)."""
    if not users:
        return set()
    rows = session.execute(
        select(PlatformAction.reason).where(
            PlatformAction.adapter == ADAPTER,
            PlatformAction.action == ACTION,
            PlatformAction.target_ref.in_(sorted(users)),
        )
    ).scalars()
    return set(rows)


def queue_server_notices(session: Session, *, settings: Settings, now: datetime) -> int:
    """Queue what the notifier has sent to Matrix users since the last call.

    The cursors trail by ``LAG`` rows: on PostgreSQL a row may commit after one with a
    higher id, and is then read on the next call; what was already queued is not again.
    """
    marks = cursors(session, prefix="told:")
    last_statement = int(marks.get("told:statements", "0"))
    last_notice = int(marks.get("told:notices", "0"))
    statements = session.execute(
        select(StatementOfReasons, ModerationDecision, ModerationItem)
        .join(ModerationDecision, ModerationDecision.id == StatementOfReasons.decision_id)
        .join(ModerationItem, ModerationItem.id == ModerationDecision.item_id)
        .where(
            StatementOfReasons.id > last_statement - LAG,
            StatementOfReasons.sent_to_owner_at.is_not(None),
        )
        .order_by(StatementOfReasons.id)
        .limit(BATCH)
    ).all()
    sent = session.execute(
        select(Notice, Reporter.platform_user_id)
        .outerjoin(Reporter, Reporter.id == Notice.reporter_id)
        .where(Notice.id > last_notice - LAG, Notice.sent_at.is_not(None))
        .order_by(Notice.id)
        .limit(BATCH)
    ).all()
    users = {str(i.owner_user_id) for _, _, i in statements if _matrix_user(i.owner_user_id)}
    users |= {str(n.user_id or r) for n, r in sent if _matrix_user(n.user_id or r)}
    told = _told(session, users)
    queued = 0
    for statement, decision, item in statements:
        last_statement = max(last_statement, statement.id)
        owner, about = item.owner_user_id, f"statement {statement.puid}"
        if not _matrix_user(owner) or about in told:
            continue
        assert owner is not None
        until = notices.appeal_deadline(as_utc(statement.created_at), settings.appeal_window_days)
        link = notices.appeal_link(
            session,
            decision_id=decision.id,
            party="owner",
            user_id=owner,
            expires_at=until,
            link_base=settings.public_url,
        )
        text = _statement_text(session, decision, item, statement.puid, link, until)
        bot.queue_message(session, user_id=owner, body=text, about=about, now=now, action=ACTION)
        if decision.action not in ("no_violation", "suspend_account"):
            # The owner appeals a restriction: the way to do it from Matrix, in Rempart's room.
            # Not to a suspended account, which Synapse lets neither join a room nor write:
            # it appeals through the link in the server notice.
            kind = "message" if item.kind == "post" else "room"
            what = f"Rempart, statement of reasons {statement.puid}: your {kind} {item.ref} was "
            what += f"{_DECISIONS.get(decision.action, decision.action)}.\n"
            bot.queue_message(
                session,
                user_id=owner,
                body=what + bot.how_to_appeal(statement.puid, until),
                about=about,
                now=now,
            )
        queued += 1
    for notice, reporter_user in sent:
        last_notice = max(last_notice, notice.id)
        user_id, about = notice.user_id or reporter_user, f"notice {notice.id} {notice.kind}"
        if not _matrix_user(user_id) or about in told:
            continue
        assert user_id is not None
        bot.queue_message(
            session,
            user_id=user_id,
            body=_notice_text(notice.kind, notice.body),
            about=about,
            now=now,
            action=ACTION,
        )
        refused = _refusal(session, notice)
        if refused is not None:
            # A reporter appeals a refusal to act: the way to do it from Matrix.
            reference, until = refused
            what = f"Rempart: no action was taken on what you reported ({notice.body['target']}).\n"
            bot.queue_message(
                session,
                user_id=user_id,
                body=what + bot.how_to_appeal(reference, until),
                about=about,
                now=now,
            )
        queued += 1
    moved = {"told:statements": str(last_statement), "told:notices": str(last_notice)}
    # Every round passes here: write only what moved.
    save(session, values={k: v for k, v in moved.items() if marks.get(k) != v})
    return queued


def forget_body(action: PlatformAction) -> None:
    """Once sent, the notice's text (with its appeal secret) lives on the homeserver only."""
    if action.action in (ACTION, bot.ACTION) and action.details.get("body"):
        action.details = {"sent_chars": len(str(action.details["body"]))}

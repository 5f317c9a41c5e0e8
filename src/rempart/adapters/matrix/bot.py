"""Appeals from inside Matrix, through a room of Rempart's own with the user.

With each notice that the user may appeal (a statement of reasons to the owner of what was
restricted, the refusal to act on a report to its reporter), Rempart's admin opens (or
reuses) a direct room named "Rempart" with the user and says there how to appeal:
``!appeal <reference> <reasons>`` (``!recours`` in French). The worker reads those rooms,
and only those: rooms that Rempart created, each with the one user it was created for,
remembered in the adapter's cursors when Rempart created them. A room a user creates and
invites Rempart's admin to is never read, whatever it is called.

Of what is written there, only the user's own commands are taken, and only their appeal
text is kept (in the appeal, as with the web form). The appeal goes through
``reports.appeals.file``, as the platform vouching for its user (``POST /v1/appeals``
with a platform token): the owner appeals a restriction, a reporter a refusal, once per
decision, within the window. Every command is audited with its outcome, and answered in
the room with the appeal's tracking id or why it was refused.

Commands count against their sender's budget (``matrix_command_rate_limit`` per
``matrix_command_rate_window_seconds``, in core/ratelimit as the API's requests): past it,
a command files nothing; the sender is told once per window (audited ``rate_limited``) and
the rest of the flood is read and dropped.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix.client import JSON, Homeserver
from rempart.adapters.matrix.event_reports import platform_caller
from rempart.adapters.matrix.progress import ACTOR, ADAPTER, SyncSummary, cursors, save
from rempart.audit import service as audit
from rempart.core import ratelimit
from rempart.core.clock import now_of
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.errors import RateLimited, RempartError
from rempart.moderation.models import ModerationDecision, StatementOfReasons
from rempart.platform import events
from rempart.platform.models import PlatformAction
from rempart.reports import appeals
from rempart.reports.schemas import AppealCreate

log = logging.getLogger("rempart.matrix")

ACTION = "bot_message"
ROOM_NAME = "Rempart"
ROOM_TOPIC = (
    "Rempart, the moderation of this server. To appeal a decision: "
    "!appeal <reference> <your reasons>. Pour contester : !recours <référence> <vos raisons>."
)
# Cursor keys: the room Rempart opened with a user, and how far it has been read.
ROOM = "botroom:"
READ = "botread:"
PAGE = 100
# Bodies longer than this are cut: a notice is a message, the statement itself is public.
MAX_BODY = 4000
COMMANDS = {"!appeal": "en", "!recours": "fr"}
# Rate limit keys (blind indexes of the sender): its commands, and whether it was told.
COMMANDS_RATE = "matrix.commands"
COMMANDS_TOLD = "matrix.commands.told"
# A statement of reasons' puid (the owner's reference), or a decision (a reporter's).
_STATEMENT = re.compile(r"^rempart-[0-9]{1,19}-[0-9a-f]{1,32}$")
_DECISION = re.compile(r"^decision-([0-9]{1,18})$")

_REFUSED_FR = {
    "appeal_not_found": "Aucune décision n'a cette référence.",
    "not_a_party": "Vous n'êtes ni l'auteur du contenu ni l'auteur du signalement.",
    "appeal_exists": "Vous avez déjà contesté cette décision.",
    "appeal_window_closed": "Le délai pour contester cette décision est passé.",
    "decision_superseded": "Une décision plus récente a remplacé celle-ci : contestez-la.",
    "nothing_to_appeal": "Cette décision ne restreint rien qui vous concerne.",
    "invalid_explanation": "Expliquez votre recours en 10 à 5 000 caractères.",
    "usage": "Écrivez : !recours <référence> <vos raisons>.",
}
_USAGE_EN = "Write: !appeal <reference> <your reasons>."


def room_of(session: Session, *, user_id: str) -> str | None:
    return cursors(session, prefix=f"{ROOM}{user_id}").get(f"{ROOM}{user_id}")


def remember_room(session: Session, *, user_id: str, room_id: str) -> None:
    """Rempart opened this room with the user: from now on, the one room of theirs it reads."""
    save(session, values={f"{ROOM}{user_id}": room_id})


def queue_message(
    session: Session,
    *,
    user_id: str,
    body: str,
    about: str,
    now: datetime,
    action: str = ACTION,
) -> None:
    """A message to the user in Rempart's room with them (opened when it is sent), or,
    with ``action`` "server_notice", as a server notice."""
    session.add(
        PlatformAction(
            adapter=ADAPTER,
            action=action,
            target_kind="account",
            target_ref=user_id,
            reason=about[:512],
            state="pending",
            due_at=now,
            attempts=0,
            details={"body": body[:MAX_BODY]},
            created_at=now,
        )
    )


def how_to_appeal(reference: str, until: datetime) -> str:
    day = until.date().isoformat()
    return (
        f"To appeal from here, write in this room (until {day}):\n"
        f"!appeal {reference} <your reasons>\n"
        f"Pour contester ici (jusqu'au {day}) :\n"
        f"!recours {reference} <vos raisons>"
    )


def decision_reference(decision_id: int) -> str:
    return f"decision-{decision_id}"


def _decision_of(session: Session, reference: str) -> int | None:
    if _STATEMENT.match(reference):
        return session.execute(
            select(StatementOfReasons.decision_id).where(StatementOfReasons.puid == reference)
        ).scalar_one_or_none()
    found = _DECISION.match(reference)
    if found is None:
        return None
    return session.execute(
        select(ModerationDecision.id).where(ModerationDecision.id == int(found.group(1)))
    ).scalar_one_or_none()


def _command(event: JSON, user_id: str) -> tuple[str, list[str]] | None:
    """(language, words) of a command the user wrote; None for anything else, which is
    neither read further nor kept."""
    if event.get("type") != "m.room.message" or event.get("sender") != user_id:
        return None
    body = (event.get("content") or {}).get("body")
    if not isinstance(body, str):
        return None
    words = body.strip().split(None, 2)
    if not words or words[0].lower() not in COMMANDS:
        return None
    return COMMANDS[words[0].lower()], words[1:]


def _answer(
    session: Session,
    rt: Runtime,
    *,
    user_id: str,
    event: JSON,
    language: str,
    words: list[str],
    summary: SyncSummary,
) -> None:
    """File the appeal the command asks for, audit the outcome, queue the answer."""
    reference = words[0] if words else ""
    known = bool(_STATEMENT.match(reference) or _DECISION.match(reference))
    tracking: str | None = None
    message = ""
    if len(words) < 2:
        outcome = "usage"
    else:
        decision_id = _decision_of(session, reference)
        try:
            if decision_id is None:
                outcome, message = "appeal_not_found", "No decision has this reference."
            else:
                data = AppealCreate(
                    decision_id=decision_id, platform_user_id=user_id, explanation=words[1]
                )
                with session.begin_nested():
                    appeal = appeals.file(
                        session,
                        settings=rt.settings,
                        data=data,
                        caller=platform_caller(session),
                        now=now_of(session),
                    )
                outcome, tracking = "filed", appeal.tracking_id
        except ValidationError:
            outcome = "invalid_explanation"
            message = "Explain your appeal in 10 to 5,000 characters."
        except RempartError as exc:
            outcome, message = exc.code, exc.message
    if tracking is not None:
        summary.appeals += 1
        status = f"{rt.settings.public_url.rstrip('/')}/v1/appeals/{tracking}"
        text = (
            f"Recours enregistré ({reference}). Suivi : {tracking} — {status}"
            if language == "fr"
            else f"Appeal received ({reference}). Tracking id: {tracking} — {status}"
        )
    else:
        summary.refused += 1
        if language == "fr":
            text = f"Recours non enregistré : {_REFUSED_FR.get(outcome, message)} ({outcome})"
        else:
            text = f"Appeal not filed: {message or _USAGE_EN} ({outcome})"
    _record_answer(
        session,
        user_id=user_id,
        event=event,
        reference=reference if known else None,
        outcome=outcome,
        appeal=tracking,
        text=text,
    )


def _record_answer(
    session: Session,
    *,
    user_id: str,
    event: JSON,
    reference: str | None,
    outcome: str,
    appeal: str | None,
    text: str,
) -> None:
    """Audit what came of a command and queue the answer to its sender."""
    audit.record(
        session,
        events.MatrixAppealReceived(
            adapter=ADAPTER,
            event=str(event.get("event_id", ""))[:255],
            reference=reference,
            outcome=outcome,
            appeal=appeal,
        ),
        actor=ACTOR,
        target=f"account:{user_id}",
    )
    queue_message(
        session,
        user_id=user_id,
        body=text,
        about=f"answer {event.get('event_id')}",
        now=now_of(session),
    )


def _count_commands(
    session: Session, rt: Runtime, *, user_id: str, commands: int
) -> list[RateLimited | None]:
    """Count a page's commands against their sender's budget, as the API counts requests
    (core/ratelimit): for each, its refusal, or None when it is within the budget."""
    if not commands:
        return []
    key = rt.keys.blind_index(user_id, purpose=COMMANDS_RATE)
    return ratelimit.hit_many(
        session,
        keys=[key] * commands,
        limit=rt.settings.matrix_command_rate_limit,
        window_seconds=rt.settings.matrix_command_rate_window_seconds,
        now=now_of(session),
    )


def _refuse_flood(
    session: Session,
    rt: Runtime,
    *,
    user_id: str,
    event: JSON,
    language: str,
    summary: SyncSummary,
) -> None:
    """A command past its sender's budget files nothing. The sender is told once per
    window, and that refusal audited; the rest are dropped unanswered, so that a raider
    cannot make Rempart write to the homeserver or the audit log as fast as they type."""
    summary.refused += 1
    told = ratelimit.hit_many(
        session,
        keys=[rt.keys.blind_index(user_id, purpose=COMMANDS_TOLD)],
        limit=1,
        window_seconds=rt.settings.matrix_command_rate_window_seconds,
        now=now_of(session),
    )
    if told[0] is not None:
        return
    text = (
        "Recours non enregistré : trop de commandes ; réessayez plus tard. (rate_limited)"
        if language == "fr"
        else "Appeal not filed: too many commands; please try again later. (rate_limited)"
    )
    _record_answer(
        session,
        user_id=user_id,
        event=event,
        reference=None,
        outcome=RateLimited.code,
        appeal=None,
        text=text,
    )


def read_rooms(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> None:
    """The users' commands in Rempart's own rooms with them, since the last read."""
    with transaction(rt.engine, readonly=True) as session:
        rooms = cursors(session, prefix=ROOM)
        marks = cursors(session, prefix=READ)
    for key, room_id in sorted(rooms.items()):
        user_id = key.removeprefix(ROOM)
        token = marks.get(f"{READ}{room_id}")
        while True:
            page = hs.read_as_member(room_id, start=token, limit=PAGE)
            chunk: list[JSON] = page.get("chunk", [])
            end = page.get("end")
            commands: list[tuple[JSON, str, list[str]]] = []
            for event in chunk:
                found = _command(event, user_id)
                if found is not None:
                    commands.append((event, *found))
            with transaction(rt.engine) as session:
                refusals = _count_commands(session, rt, user_id=user_id, commands=len(commands))
                for (event, language, words), refused in zip(commands, refusals, strict=True):
                    if refused is not None:
                        _refuse_flood(
                            session,
                            rt,
                            user_id=user_id,
                            event=event,
                            language=language,
                            summary=summary,
                        )
                        continue
                    _answer(
                        session,
                        rt,
                        user_id=user_id,
                        event=event,
                        language=language,
                        words=words,
                        summary=summary,
                    )
                if end and end != token:
                    save(session, values={f"{READ}{room_id}": str(end)})
            if not chunk or not end or end == token:
                break
            token = str(end)


def after_sent(session: Session, *, action: PlatformAction, learnt: dict[str, Any]) -> None:
    """A room Rempart has just opened for a message (sent, or to retry): the user's now."""
    room = learnt.get("room")
    if action.action == ACTION and isinstance(room, str):
        remember_room(session, user_id=action.target_ref, room_id=room)
        action.entity_id = room

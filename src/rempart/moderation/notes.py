"""Moderators' internal notes on an item, and escalations to the legal team.

A note is for the team only: no page, notice, statement or export for the owner, a
reporter or an authority reads this table. An escalation is a note that also puts the
item in the legal reviewers' view until one of them closes it with their answer. Notes
are stored in clear, so one holding a phone number or an IP address is refused: those are
kept encrypted, and only legal reviewers working on an order may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from rempart.audit import service as audit
from rempart.audit.exceptions import PersonalDataInAudit
from rempart.audit.personal import check_text
from rempart.auth.models import Principal
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.moderation import events
from rempart.moderation.exceptions import (
    EscalationNotFound,
    ItemNotFound,
    NoteHoldsPersonalData,
)
from rempart.moderation.models import ModerationItem, ModerationNote

NOTE = "note"
ESCALATION = "escalation"
MAX_TEXT = 2000
OPEN_SHOWN = 500


@dataclass(frozen=True)
class NoteView:
    id: int
    item_id: int
    item_label: str
    kind: str
    text: str
    author: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    closing_note: str | None


def _clean(text: str) -> str:
    text = text.strip()[:MAX_TEXT]
    try:
        check_text(text)
    except PersonalDataInAudit as exc:
        raise NoteHoldsPersonalData(
            "A note may not hold a phone number or an IP address: they are kept encrypted "
            "and shown only to legal reviewers working on an order."
        ) from exc
    return text


def add(session: Session, *, caller: Caller, item_id: int, text: str, escalate: bool) -> int:
    """A note on the item, or (``escalate``) an escalation to legal; audited either way."""
    item = session.get(ModerationItem, item_id)
    if item is None:
        raise ItemNotFound("No moderation item has this id.")
    kind = ESCALATION if escalate else NOTE
    note = ModerationNote(
        item_id=item.id,
        author_id=caller.principal_id,
        kind=kind,
        text=_clean(text),
        created_at=now_of(session),
    )
    session.add(note)
    session.flush()
    # The text stays in the note: the log says that there was one, and which.
    added = events.Escalated if escalate else events.NoteAdded
    audit.record(
        session, added(note_id=note.id), actor=caller.actor, target=f"{item.kind}:{item.ref}"
    )
    return note.id


def close(session: Session, *, caller: Caller, note_id: int, text: str) -> None:
    """A legal reviewer answers an escalation, which leaves their view; audited."""
    note = session.get(ModerationNote, note_id, with_for_update=True)
    if note is None or note.kind != ESCALATION or note.closed_at is not None:
        raise EscalationNotFound("No open escalation has this id.")
    item = session.get(ModerationItem, note.item_id)
    assert item is not None  # a foreign key
    note.closed_by = caller.principal_id
    note.closed_at = now_of(session)
    note.closing_note = _clean(text)
    audit.record(
        session,
        events.EscalationClosed(note_id=note.id),
        actor=caller.actor,
        target=f"{item.kind}:{item.ref}",
    )


def of_item(session: Session, *, item_id: int) -> list[NoteView]:
    """An item's notes and escalations, oldest first."""
    return of_items(session, item_ids=[item_id])


def of_items(session: Session, *, item_ids: list[int]) -> list[NoteView]:
    """The notes and escalations of several items (an account's), oldest first."""
    return _views(session, ModerationNote.item_id.in_(item_ids), limit=None)


def open_escalations(session: Session) -> list[NoteView]:
    """What waits for the legal team, oldest first."""
    return _views(
        session,
        ModerationNote.kind == ESCALATION,
        ModerationNote.closed_at.is_(None),
        limit=OPEN_SHOWN,
    )


def _views(session: Session, *conditions: object, limit: int | None) -> list[NoteView]:
    author = aliased(Principal)
    closer = aliased(Principal)
    query = (
        select(ModerationNote, ModerationItem.kind, ModerationItem.ref, author.name, closer.name)
        .join(ModerationItem, ModerationItem.id == ModerationNote.item_id)
        .join(author, author.id == ModerationNote.author_id)
        .outerjoin(closer, closer.id == ModerationNote.closed_by)
        .where(*conditions)  # type: ignore[arg-type]
        .order_by(ModerationNote.created_at, ModerationNote.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        NoteView(
            id=note.id,
            item_id=note.item_id,
            item_label=f"{kind}:{ref}",
            kind=note.kind,
            text=note.text,
            author=author_name,
            created_at=as_utc(note.created_at),
            closed_by=closer_name,
            closed_at=as_utc(note.closed_at) if note.closed_at else None,
            closing_note=note.closing_note,
        )
        for note, kind, ref, author_name, closer_name in session.execute(query).all()
    ]

"""Everything that happened to one subject, in time order: an item, or every item an
account owns. Each notice with its text (never who sent it: the reporter's kind only),
each decision with who took it, each appeal with its text, each reveal of a blurred image
with who revealed it and why, and the team's internal notes and escalations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.events import read_as
from rempart.auth.models import Principal
from rempart.auth.service import principal_names
from rempart.core.clock import as_utc
from rempart.moderation import notes
from rempart.moderation.events import MediaRevealed
from rempart.moderation.hooks import review
from rempart.moderation.models import ModerationDecision, ModerationItem

# Per kind of event: a subject with more shows the latest this many of each.
SHOWN = 500
ITEMS_SHOWN = 200


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # notice | decision | appeal | reveal | note | escalation
    item_id: int
    item_label: str
    # Who acted, where the team may know it: a moderator's or legal reviewer's name, or the
    # kind of reporter or appellant (never their identity).
    by: str
    # What: a category, an action, an appeal's party and state.
    what: str
    text: str


@dataclass(frozen=True)
class Timeline:
    subject: str
    items: list[ModerationItem]
    events: list[Event]


def of_item(session: Session, *, item_id: int) -> Timeline | None:
    item = session.get(ModerationItem, item_id)
    if item is None:
        return None
    return Timeline(f"{item.kind}:{item.ref}", [item], _events(session, [item]))


def of_account(session: Session, *, user_id: str) -> Timeline:
    """Every item the account owns (its entities and their posts)."""
    items = list(
        session.execute(
            select(ModerationItem)
            .where(ModerationItem.owner_user_id == user_id)
            .order_by(ModerationItem.id)
            .limit(ITEMS_SHOWN)
        ).scalars()
    )
    return Timeline(user_id, items, _events(session, items))


def _events(session: Session, items: list[ModerationItem]) -> list[Event]:
    labels = {i.id: f"{i.kind}:{i.ref}" for i in items}
    ids = list(labels)
    events: list[Event] = []
    decisions = list(
        session.execute(
            select(ModerationDecision, Principal.name)
            .outerjoin(Principal, Principal.id == ModerationDecision.moderator_id)
            .where(ModerationDecision.item_id.in_(ids))
            .order_by(ModerationDecision.id.desc())
            .limit(SHOWN)
        ).all()
    )
    for decision, name in decisions:
        events.append(
            Event(
                as_utc(decision.created_at),
                "decision",
                decision.item_id,
                labels[decision.item_id],
                name or "automated",
                f"{decision.action} · {decision.category}",
                decision.explanation,
            )
        )
    events.extend(review.timeline_events(session, labels=labels))
    events.extend(_reveals(session, items))
    for note in notes.of_items(session, item_ids=ids):
        label = labels[note.item_id]
        events.append(
            Event(note.created_at, note.kind, note.item_id, label, note.author, "", note.text)
        )
        if note.closed_at is not None:
            events.append(
                Event(
                    note.closed_at,
                    "escalation_closed",
                    note.item_id,
                    label,
                    note.closed_by or "",
                    "",
                    note.closing_note or "",
                )
            )
    events.sort(key=lambda e: (e.at, e.kind))
    return events


def _reveals(session: Session, items: list[ModerationItem]) -> list[Event]:
    posts = {f"post:{i.ref}": i.id for i in items if i.kind == "post"}
    if not posts:
        return []
    bodies = audit.recorded(session, action=MediaRevealed.action, targets=list(posts), limit=SHOWN)
    names = principal_names(session, actors=[b["actor"] for b in bodies])
    revealed = [read_as(MediaRevealed, b["details"]) for b in bodies]
    return [
        Event(
            as_utc(datetime.fromisoformat(b["ts"].replace("Z", "+00:00"))),
            "reveal",
            posts[b["target"]],
            b["target"],
            names.get(b["actor"], b["actor"]),
            f"media {reveal.media_id}",
            reveal.reason,
        )
        for b, reveal in zip(bodies, revealed, strict=True)
    ]


def owner_of(session: Session, *, item_id: int) -> str | None:
    """The account whose timeline an item's page links to, where the platform said."""
    return session.execute(
        select(ModerationItem.owner_user_id).where(ModerationItem.id == item_id)
    ).scalar_one_or_none()

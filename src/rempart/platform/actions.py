"""The platform-actions port: how Rempart carries its decisions to the platform (content
an authority ordered removed, a moderator's decision, an account suspension).

The port takes plain data (``Takedown``, ``Decided``): it knows nothing of moderation's
or reports' tables. Its implementation is chosen in settings (``REMPART_PLATFORM``) and
reached through the runtime, ``rt.port(PORT)``; callers never build one.

``LocalPlatformActions`` (``local``, the default that works offline) takes the item out of
Rempart's search at once and records what was done as a ``PlatformAction`` the platform
reads (for a geo-restriction, with the Member States where the content must be
disabled); moderators' decisions and suspensions reach the platform through its notices,
so it plans nothing for them. The Matrix implementation (``matrix``, in
``rempart.adapters.matrix``, registered by the entry points) also carries them out on the
homeserver: an EU-wide removal redacts the message with its media quarantined, or takes
the room out of the directory and blocks it, by the Matrix worker within its next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core import ports
from rempart.core.ports import Port
from rempart.core.settings import Settings
from rempart.platform.models import PlatformAction
from rempart.search import service as search

LOCAL = "local"
REMOVED = "removed"
GEO_RESTRICTED = "geo_restricted"


@dataclass(frozen=True)
class Takedown:
    kind: str  # post | entity
    ref: str
    entity_id: str
    # Where to disable the content; empty means everywhere.
    member_states: tuple[str, ...]
    # The order's reference and basis, as the platform and the owner will read it.
    reason: str
    # Rempart's moderation item for the content, if it has one.
    item_id: int | None = None


@dataclass(frozen=True)
class Decided:
    """A moderator's decision on an item, as the platform needs it."""

    item_id: int
    decision_id: int
    kind: str  # post | entity
    ref: str
    entity_id: str
    action: str
    after_appeal: bool
    manifestly_illegal: bool = False


class PlatformActions(Protocol):
    def disable(self, session: Session, takedown: Takedown, *, now: datetime) -> str:
        """Carry out (or durably plan) the takedown in the caller's transaction; returns
        ``removed`` or ``geo_restricted``."""
        ...

    def plan_decision(self, session: Session, decided: Decided, *, now: datetime) -> None:
        """Plan what a moderator's decision calls for on the platform."""
        ...

    def plan_account_suspension(
        self, session: Session, *, user_id: str, until: datetime, reason: str
    ) -> None:
        """An Art. 23 suspension: now, lifted at ``until``."""
        ...

    def plan_open_suspension(
        self, session: Session, *, user_id: str, cause: str, reason: str
    ) -> None:
        """A suspension with no end date, lifted only by a decision naming ``cause``."""
        ...


PORT: Port[PlatformActions] = Port("platform")


def of_item(session: Session, *, item_id: int) -> list[PlatformAction]:
    """What the platform was asked to do about an item, oldest first (for the console)."""
    return list(
        session.execute(
            select(PlatformAction)
            .where(PlatformAction.item_id == item_id)
            .order_by(PlatformAction.id)
        ).scalars()
    )


class LocalPlatformActions:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def disable(self, session: Session, takedown: Takedown, *, now: datetime) -> str:
        everywhere = not takedown.member_states
        # Rempart's search does not know where its readers are: content disabled in some
        # Member States leaves search everywhere rather than stay findable where it is not
        # allowed. (The moderation item is marked removed by the order's execution.)
        if takedown.kind == "entity":
            search.remove_entity(session, entity_id=takedown.ref)
        else:
            search.remove(session, items=[(takedown.kind, takedown.ref)])
        outcome = REMOVED if everywhere else GEO_RESTRICTED
        session.add(
            PlatformAction(
                adapter=LOCAL,
                action="remove" if everywhere else "geo_restrict",
                target_kind=takedown.kind,
                target_ref=takedown.ref,
                entity_id=takedown.entity_id,
                item_id=takedown.item_id,
                reason=takedown.reason[:512],
                state="done",
                due_at=now,
                attempts=1,
                details={"member_states": list(takedown.member_states)},
                created_at=now,
                done_at=now,
            )
        )
        session.flush()
        return outcome

    # The platform reads moderators' decisions and suspensions from its notices.

    def plan_decision(self, session: Session, decided: Decided, *, now: datetime) -> None:
        return None

    def plan_account_suspension(
        self, session: Session, *, user_id: str, until: datetime, reason: str
    ) -> None:
        return None

    def plan_open_suspension(
        self, session: Session, *, user_id: str, cause: str, reason: str
    ) -> None:
        return None


ports.register(PORT, LOCAL, lambda rt: LocalPlatformActions(rt.settings))

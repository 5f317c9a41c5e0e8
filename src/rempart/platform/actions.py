"""The platform-actions port: how Rempart carries its decisions to the platform (content
an authority ordered removed, a moderator's decision, an account suspension).

``LocalPlatformActions`` is the default that works offline: it takes the item out of
Rempart's search at once, marks the moderation item removed when the order applies
everywhere, and records what was done as a ``PlatformAction`` the platform reads (for a
geo-restriction, with the Member States where the content must be disabled); moderators'
decisions and suspensions reach the platform through its notices, so it plans nothing for
them. ``MatrixPlatformActions`` (chosen by ``for_settings`` when a homeserver is
configured) also carries them out on the homeserver: an EU-wide removal redacts the
message with its media quarantined, or takes the room out of the directory and blocks it,
by the Matrix worker within its next round. Moderation, reports and the console go
through this port, never to the Matrix adapter itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.settings import Settings
from rempart.moderation import reasons
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.platform.adapters.matrix import actions as matrix_actions
from rempart.platform.adapters.matrix.progress import ADAPTER as MATRIX
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


class PlatformActions(Protocol):
    def disable(self, session: Session, takedown: Takedown, *, now: datetime) -> str:
        """Carry out (or durably plan) the takedown in the caller's transaction; returns
        ``removed`` or ``geo_restricted``."""
        ...

    def plan_decision(
        self,
        session: Session,
        *,
        item: ModerationItem,
        decision: ModerationDecision,
        after_appeal: bool,
        now: datetime,
        manifestly_illegal: bool = False,
    ) -> None:
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


def for_settings(settings: Settings) -> PlatformActions:
    if matrix_actions.enabled(settings):
        return MatrixPlatformActions(settings)
    return LocalPlatformActions(settings)


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
        item = session.execute(
            select(ModerationItem).where(
                ModerationItem.kind == takedown.kind, ModerationItem.ref == takedown.ref
            )
        ).scalar_one_or_none()
        # Rempart's search does not know where its readers are: content disabled in some
        # Member States leaves search everywhere rather than stay findable where it is not
        # allowed.
        if takedown.kind == "entity":
            search.remove_entity(session, entity_id=takedown.ref)
        else:
            search.remove(session, items=[(takedown.kind, takedown.ref)])
        if everywhere and item is not None:
            item.state = REMOVED
            # Decided by law, like a moderator's decision: nothing waits in the queue, and
            # a rescan of unchanged content keeps it removed.
            reasons.clear(item, now=now)
            item.human_decided_at = now
            item.version = (item.version or 0) + 1
            item.updated_at = now
        outcome = REMOVED if everywhere else GEO_RESTRICTED
        session.add(
            PlatformAction(
                adapter=LOCAL,
                action="remove" if everywhere else "geo_restrict",
                target_kind=takedown.kind,
                target_ref=takedown.ref,
                entity_id=takedown.entity_id,
                item_id=item.id if item is not None else None,
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

    def plan_decision(
        self,
        session: Session,
        *,
        item: ModerationItem,
        decision: ModerationDecision,
        after_appeal: bool,
        now: datetime,
        manifestly_illegal: bool = False,
    ) -> None:
        return None

    def plan_account_suspension(
        self, session: Session, *, user_id: str, until: datetime, reason: str
    ) -> None:
        return None

    def plan_open_suspension(
        self, session: Session, *, user_id: str, cause: str, reason: str
    ) -> None:
        return None


class MatrixPlatformActions(LocalPlatformActions):
    """The local record, and the same decisions planned on the homeserver."""

    def disable(self, session: Session, takedown: Takedown, *, now: datetime) -> str:
        outcome = super().disable(session, takedown, now=now)
        if outcome == REMOVED and _is_matrix(takedown):
            item_id = session.execute(
                select(ModerationItem.id).where(
                    ModerationItem.kind == takedown.kind, ModerationItem.ref == takedown.ref
                )
            ).scalar_one_or_none()
            for action, kind, ref in _matrix_steps(takedown):
                session.add(
                    PlatformAction(
                        adapter=MATRIX,
                        action=action,
                        target_kind=kind,
                        target_ref=ref,
                        entity_id=takedown.entity_id,
                        item_id=item_id,
                        reason=takedown.reason[:512],
                        state="pending",
                        due_at=now,
                        attempts=0,
                        details={},
                        created_at=now,
                    )
                )
            session.flush()
        return outcome

    def plan_decision(
        self,
        session: Session,
        *,
        item: ModerationItem,
        decision: ModerationDecision,
        after_appeal: bool,
        now: datetime,
        manifestly_illegal: bool = False,
    ) -> None:
        matrix_actions.plan(
            session,
            settings=self.settings,
            item=item,
            decision=decision,
            after_appeal=after_appeal,
            now=now,
            manifestly_illegal=manifestly_illegal,
        )

    def plan_account_suspension(
        self, session: Session, *, user_id: str, until: datetime, reason: str
    ) -> None:
        matrix_actions.plan_account_suspension(
            session, settings=self.settings, user_id=user_id, until=until, reason=reason
        )

    def plan_open_suspension(
        self, session: Session, *, user_id: str, cause: str, reason: str
    ) -> None:
        matrix_actions.plan_open_suspension(
            session, settings=self.settings, user_id=user_id, cause=cause, reason=reason
        )


def _is_matrix(takedown: Takedown) -> bool:
    return takedown.entity_id.startswith("!") and (
        takedown.kind == "entity" or takedown.ref.startswith("$")
    )


def _matrix_steps(takedown: Takedown) -> list[tuple[str, str, str]]:
    if takedown.kind == "post":
        # Taken down at once, media first: a removal order does not wait for an appeal.
        return [("takedown", "post", takedown.ref)]
    return [
        ("directory_remove", "entity", takedown.entity_id),
        ("block_room", "entity", takedown.entity_id),
    ]

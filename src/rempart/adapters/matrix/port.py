"""The platform-actions port carried out on a Matrix homeserver (``REMPART_PLATFORM=matrix``,
the choice by default when a homeserver is configured): the local record, and the same
decisions planned on the homeserver for the Matrix worker (``actions.run_due``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rempart.adapters.matrix import actions as matrix_actions
from rempart.adapters.matrix.progress import ADAPTER as MATRIX
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.platform.actions import (
    REMOVED,
    Decided,
    LocalPlatformActions,
    Takedown,
)
from rempart.platform.models import PlatformAction


class MatrixPlatformActions(LocalPlatformActions):
    """The local record, and the same decisions planned on the homeserver."""

    def disable(self, session: Session, takedown: Takedown, *, now: datetime) -> str:
        outcome = super().disable(session, takedown, now=now)
        if outcome == REMOVED and _is_matrix(takedown):
            for action, kind, ref in _matrix_steps(takedown):
                session.add(
                    PlatformAction(
                        adapter=MATRIX,
                        action=action,
                        target_kind=kind,
                        target_ref=ref,
                        entity_id=takedown.entity_id,
                        item_id=takedown.item_id,
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

    def plan_decision(self, session: Session, decided: Decided, *, now: datetime) -> None:
        # The adapter sits above moderation: it reads the item and the decision itself.
        item = session.get(ModerationItem, decided.item_id)
        decision = session.get(ModerationDecision, decided.decision_id)
        if item is None or decision is None:
            return
        matrix_actions.plan(
            session,
            settings=self.settings,
            item=item,
            decision=decision,
            after_appeal=decided.after_appeal,
            now=now,
            manifestly_illegal=decided.manifestly_illegal,
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

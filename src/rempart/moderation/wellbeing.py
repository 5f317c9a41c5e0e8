"""Each reviewer's protection from what they review: how blurred previews are shown, whether
revealed originals are shown in greyscale, and a daily count of the originals they
revealed, with a warning once they pass their own cap. The count is read from the audit
log, where every reveal is already recorded: nothing else keeps it, so it cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.service import Caller
from rempart.core.clock import now_of
from rempart.moderation import events
from rempart.moderation.models import ReviewerSettings

REVEALED = events.MediaRevealed.action
DEFAULT = {"blur_level": 1, "greyscale": True, "daily_reveal_cap": 20}


class WellbeingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blur_level: int = Field(ge=0, le=3)
    greyscale: StrictBool
    # 0: no warning.
    daily_reveal_cap: int = Field(ge=0, le=1000)


@dataclass(frozen=True)
class Wellbeing:
    blur_level: int
    greyscale: bool
    daily_reveal_cap: int
    revealed_today: int

    @property
    def over_cap(self) -> bool:
        return 0 < self.daily_reveal_cap <= self.revealed_today


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def revealed_today(session: Session, *, caller: Caller, now: datetime | None = None) -> int:
    """Originals this reviewer revealed since midnight UTC (committed reveals)."""
    since = _start_of_day(now or now_of(session))
    bodies = audit.recorded(session, action=REVEALED, since=since, limit=100_000)
    return sum(1 for body in bodies if body.get("actor") == caller.actor)


def of(session: Session, *, caller: Caller, extra_reveals: int = 0) -> Wellbeing:
    """The reviewer's settings and today's count (plus reveals not yet committed)."""
    row = session.get(ReviewerSettings, caller.principal_id)
    chosen = (
        DEFAULT
        if row is None
        else {
            "blur_level": row.blur_level,
            "greyscale": row.greyscale,
            "daily_reveal_cap": row.daily_reveal_cap,
        }
    )
    return Wellbeing(
        blur_level=int(chosen["blur_level"]),
        greyscale=bool(chosen["greyscale"]),
        daily_reveal_cap=int(chosen["daily_reveal_cap"]),
        revealed_today=revealed_today(session, caller=caller) + extra_reveals,
    )


def update(session: Session, *, caller: Caller, data: WellbeingUpdate) -> None:
    """A reviewer changes their own settings (nobody else's); audited."""
    row = session.get(ReviewerSettings, caller.principal_id)
    if row is None:
        row = ReviewerSettings(principal_id=caller.principal_id)
        session.add(row)
    row.blur_level = data.blur_level
    row.greyscale = data.greyscale
    row.daily_reveal_cap = data.daily_reveal_cap
    row.updated_at = now_of(session)
    audit.record(
        session,
        events.WellbeingUpdated(**data.model_dump()),
        actor=caller.actor,
        target=caller.actor,
    )

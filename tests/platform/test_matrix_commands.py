"""Commands in Rempart's Matrix rooms are rate limited per sender, as the API is: a raider
flooding ``!appeal`` is told once, politely, and the flood files, answers and audits
nothing more. A stand-in homeserver serves the room's timeline (no Synapse needed)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from legal_support import MovableClock
from rempart.adapters.matrix import bot
from rempart.adapters.matrix.progress import SyncSummary
from rempart.audit.models import AuditEntry
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform.models import PlatformAction
from rempart.reports.models import Appeal

RAIDER = "@raider:t.example"
ROOM = "!rempart-raider:t.example"


class Timeline:
    """A room's timeline as ``read_as_member`` pages it: the token is an index."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def say(self, body: str, *, sender: str = RAIDER) -> None:
        self.events.append(
            {
                "type": "m.room.message",
                "sender": sender,
                "event_id": f"$e{len(self.events)}",
                "content": {"msgtype": "m.text", "body": body},
            }
        )

    def read_as_member(self, room_id: str, *, start: str | None, limit: int) -> dict[str, Any]:
        assert room_id == ROOM
        first = int(start or 0)
        chunk = self.events[first : first + limit]
        return {"chunk": chunk, "end": str(first + len(chunk))}


def _answers(runtime: Runtime) -> list[str]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(
            sa.select(PlatformAction)
            .where(PlatformAction.target_ref == RAIDER)
            .order_by(PlatformAction.id)
        ).scalars()
        return [str(a.details["body"]) for a in rows]


def _outcomes(runtime: Runtime) -> list[str]:
    with transaction(runtime.engine, readonly=True) as session:
        bodies = session.execute(
            sa.select(AuditEntry.body)
            .where(AuditEntry.action == "platform.matrix_appeal")
            .order_by(AuditEntry.seq)
        ).scalars()
        return [json.loads(b)["details"]["outcome"] for b in bodies]


def _read(runtime: Runtime, timeline: Timeline) -> SyncSummary:
    summary = SyncSummary()
    bot.read_rooms(runtime, timeline, summary)  # type: ignore[arg-type]
    return summary


def test_a_raider_flooding_commands_is_told_once_and_nothing_more_is_written(
    runtime: Runtime, moved: MovableClock
) -> None:
    limit = runtime.settings.matrix_command_rate_limit
    with transaction(runtime.engine) as session:
        bot.remember_room(session, user_id=RAIDER, room_id=ROOM)
    timeline = Timeline()
    flood = 3 * limit + 5  # more than one page of the timeline (bot.PAGE) too
    for i in range(flood):
        timeline.say(f"!appeal decision-{900 + i} Je conteste cette décision numéro {i}")
    summary = _read(runtime, timeline)

    # The budget's commands are answered (no such decision), then one polite refusal.
    assert summary.appeals == 0
    assert summary.refused == flood
    answers = _answers(runtime)
    assert len(answers) == limit + 1
    assert all("(appeal_not_found)" in a for a in answers[:limit])
    assert "try again later" in answers[-1]
    assert "(rate_limited)" in answers[-1]
    assert _outcomes(runtime) == ["appeal_not_found"] * limit + ["rate_limited"]
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(sa.select(sa.func.count(Appeal.id))).scalar_one() == 0

    # The flood was read: the next round neither reads it again nor answers it again, and
    # more commands in the same window are dropped unanswered.
    timeline.say("!recours decision-1 Encore une fois, pour être sûr")
    again = _read(runtime, timeline)
    assert again.refused == 1
    assert len(_answers(runtime)) == limit + 1

    # A new window: the sender is heard again.
    moved.offset = timedelta(seconds=runtime.settings.matrix_command_rate_window_seconds)
    timeline.say("!recours decision-2 Une nouvelle fenêtre, une nouvelle demande")
    _read(runtime, timeline)
    latest = _answers(runtime)
    assert len(latest) == limit + 2
    assert "(appeal_not_found)" in latest[-1]
    assert latest[-1].startswith("Recours non enregistré")

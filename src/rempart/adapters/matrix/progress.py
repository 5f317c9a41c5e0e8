"""Where a Matrix sync stands: its cursors (pagination tokens and fingerprints of what it
last sent, in ``adapter_cursors``) and the summary of a round."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import now_of
from rempart.platform.models import AdapterCursor

ADAPTER = "matrix"
# Who the adapter is in the audit log.
ACTOR = "platform:matrix"


@dataclass
class SyncSummary:
    accounts: int = 0
    connections: int = 0
    rooms: int = 0
    rooms_gone: int = 0
    posts: int = 0
    reports: int = 0
    # Reports on events Rempart does not hold (private rooms, rooms not yet synced).
    reports_skipped: int = 0
    # Records the homeserver sent that Rempart cannot take (an invalid phone number…), and
    # appeals asked for in Rempart's rooms and refused.
    refused: int = 0
    # Appeals filed from Matrix (in Rempart's own room with the user).
    appeals: int = 0


def cursors(session: Session, *, prefix: str) -> dict[str, str]:
    rows = session.execute(
        select(AdapterCursor.key, AdapterCursor.value).where(
            AdapterCursor.adapter == ADAPTER, AdapterCursor.key.startswith(prefix)
        )
    ).all()
    return {str(key): str(value) for key, value in rows}


def save(session: Session, *, values: dict[str, str | None]) -> None:
    now = now_of(session)
    for key, value in values.items():
        row = session.get(AdapterCursor, (ADAPTER, key))
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(AdapterCursor(adapter=ADAPTER, key=key, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now

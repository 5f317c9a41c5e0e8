"""One sync of a Synapse homeserver into Rempart, incremental and resumable.

Users (with their msisdn threepids), their connections (whois), public rooms and their
messages go through ``platform.service.ingest``, the service behind ``POST
/v1/ingest/events``; event reports become notices through ``reports.intake.submit``. Each
batch is stored in one transaction together with the cursor that says how far the sync
got, so a sync that stops half-way resumes where it stopped and stores nothing twice.

Private rooms are never read: a room's messages are fetched only while the room is public
(published, joinable by anyone or readable by anyone, not end-to-end encrypted), and of
those only the events a newcomer could read are indexed (see ``rooms._newcomer_reads``).
"""

from __future__ import annotations

from rempart.adapters.matrix import bot, event_reports
from rempart.adapters.matrix.accounts import sync_connections, sync_users
from rempart.adapters.matrix.client import Homeserver
from rempart.adapters.matrix.progress import SyncSummary
from rempart.adapters.matrix.rooms import is_public, sync_messages, sync_rooms
from rempart.core.deps import Runtime

__all__ = ["is_public", "sync"]


def sync(rt: Runtime, hs: Homeserver) -> SyncSummary:
    """One round: users, connections, rooms, messages, then reports (whose targets the
    messages step has just brought in), then appeals written in Rempart's own rooms."""
    summary = SyncSummary()
    active = sync_users(rt, hs, summary)
    sync_connections(rt, hs, active, summary)
    rooms = sync_rooms(rt, hs, summary)
    sync_messages(rt, hs, rooms, summary)
    event_reports.sync_reports(rt, hs, summary)
    bot.read_rooms(rt, hs, summary)
    return summary

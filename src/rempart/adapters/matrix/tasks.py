"""The worker's Matrix round: a sync every ``matrix_sync_seconds``, due actions every round."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from rempart.adapters.matrix import actions
from rempart.adapters.matrix.client import HomeserverError, SynapseAdmin
from rempart.adapters.matrix.sync import sync
from rempart.core import jobs
from rempart.core.db import transaction
from rempart.core.deps import Runtime

log = logging.getLogger("rempart.matrix")


def run(rt: Runtime) -> bool:
    """True when something was stored or done."""
    if not actions.enabled(rt.settings):
        return False
    with transaction(rt.engine) as session:
        sync_due = jobs.due(
            session, name="matrix-sync", every=timedelta(seconds=rt.settings.matrix_sync_seconds)
        )
    homeserver = SynapseAdmin.from_settings(rt.settings)
    busy = False
    try:
        if sync_due:
            summary = sync(rt, homeserver)
            busy = bool(summary.accounts or summary.connections or summary.posts or summary.reports)
            log.info("matrix sync: %s", summary)
        counts = actions.run_due(rt, homeserver)
        busy = busy or any(counts.values())
    except HomeserverError as exc:
        # The homeserver is down or refuses: the next round tries again from the cursors.
        log.warning("matrix round stopped: %s", exc)
    finally:
        homeserver.close()
    return busy


class Background:
    """Matrix rounds in a thread of the worker: a long first sync of a large homeserver must
    not hold up tree-head signing or the job queue. One round at a time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.thread: threading.Thread | None = None

    def poke(self) -> None:
        if not actions.enabled(self.rt.settings):
            return
        if self.thread is not None and self.thread.is_alive():
            return
        self.thread = threading.Thread(target=self._round, name="matrix", daemon=True)
        self.thread.start()

    def _round(self) -> None:
        try:
            run(self.rt)
        except Exception:
            # The database went away, say: the next poke tries again from the cursors.
            log.exception("matrix round failed")

    def stop(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

"""The worker's round of webhook deliveries, run with no transaction open."""

from __future__ import annotations

import logging
import threading

from rempart.core.deps import Runtime
from rempart.notify import webhook

log = logging.getLogger("rempart.notify")


def run(rt: Runtime) -> int:
    """Post the due deliveries; returns how many were tried."""
    settings = rt.settings
    now = rt.now()
    if not webhook.configured(settings) or not webhook.any_due(rt.engine, now=now):
        return 0
    counts = webhook.deliver_due(rt.engine, settings, rt.keys, now=now)
    return sum(counts.values())


class Background:
    """Webhook rounds in a thread of the worker: a slow or unreachable receiver (each post
    may wait for its timeout) must not hold up tree-head signing or the job queue. One
    round at a time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.thread: threading.Thread | None = None

    def poke(self) -> None:
        if not webhook.configured(self.rt.settings):
            return
        if self.thread is not None and self.thread.is_alive():
            return
        self.thread = threading.Thread(target=self._round, name="webhook", daemon=True)
        self.thread.start()

    def _round(self) -> None:
        try:
            run(self.rt)
        except Exception:
            # The database went away, say: what was claimed is posted again after its lease.
            log.exception("webhook round failed")

    def stop(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

"""The worker's round of webhook deliveries, run with no transaction open."""

from __future__ import annotations

from rempart.core.deps import Runtime
from rempart.notify import webhook


def run(rt: Runtime) -> int:
    """Post the due deliveries; returns how many were tried."""
    settings = rt.settings
    now = rt.now()
    if not webhook.configured(settings) or not webhook.any_due(rt.engine, now=now):
        return 0
    counts = webhook.deliver_due(rt.engine, settings, rt.keys, now=now)
    return sum(counts.values())

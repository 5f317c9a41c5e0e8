"""Why an item waits for a moderator. Several reasons can hold at once (a scan's signal, a
case of user reports or a trusted flagger's notice, appeals), each with its own priority;
each source adds, updates or drops its own reason only, so a rescan never buries a
trusted flagger's case nor an appeal. The item shows the strongest reason and is ranked
by the highest priority among them."""

from __future__ import annotations

from datetime import datetime

from rempart.moderation.models import ModerationItem

# A scan speaks through one of these at a time; reports through one of those.
AUTOMATED = ("auto_review", "auto_restrict")
REPORTS = ("trusted_flagger", "user_report", "suspected_raid")
# Which reason an item shows: people waiting first, then an item already out of search,
# then people's notices over a machine's doubt. Its rank is the highest priority of all.
_ORDER = (
    "appeal",
    "trusted_flagger",
    "auto_restrict",
    "user_report",
    "suspected_raid",
    "auto_review",
)


def active(item: ModerationItem) -> dict[str, float]:
    if item.queue_reasons is not None:
        return dict(item.queue_reasons)
    # An item queued before reasons were kept apart.
    if item.pending_review and item.queue_reason:
        return {item.queue_reason: item.priority}
    return {}


def _store(item: ModerationItem, reasons: dict[str, float], now: datetime) -> None:
    was_waiting = item.pending_review
    item.queue_reasons = reasons
    item.reason_marks = f",{','.join(sorted(reasons))}," if reasons else ""
    item.pending_review = bool(reasons)
    if reasons:
        item.priority = max(reasons.values())
        item.queue_reason = min(
            reasons, key=lambda r: _ORDER.index(r) if r in _ORDER else len(_ORDER)
        )
        if not was_waiting:
            item.queued_at = now
            item.claimed_by = item.claimed_until = None
    else:
        item.queue_reason = None
        item.queued_at = None
        item.claimed_by = item.claimed_until = None
    item.version = (item.version or 0) + 1
    item.updated_at = now


def put(
    item: ModerationItem,
    reason: str,
    priority: float,
    *,
    now: datetime,
    replacing: tuple[str, ...] = (),
) -> None:
    """Add or update one reason, dropping the others of the same source (``replacing``)."""
    reasons = {r: p for r, p in active(item).items() if r not in replacing}
    reasons[reason] = round(priority, 4)
    _store(item, reasons, now)


def drop(item: ModerationItem, *names: str, now: datetime) -> None:
    reasons = active(item)
    if not any(name in reasons for name in names):
        return
    _store(item, {r: p for r, p in reasons.items() if r not in names}, now)


def clear(item: ModerationItem, *, now: datetime) -> None:
    """A moderator decided: every reason is answered."""
    _store(item, {}, now)

from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, NotFound


class ItemNotFound(NotFound):
    code = "item_not_found"


class ItemClaimed(Conflict):
    code = "item_claimed"


class UnknownCategory(Invalid):
    code = "unknown_category"


class MediaNotFound(NotFound):
    code = "media_not_found"


class MediaNotHeld(NotFound):
    code = "media_not_held"


class ClaimRequired(Conflict):
    code = "claim_required"


class ItemChanged(Conflict):
    code = "item_changed"


class NotPending(Conflict):
    code = "item_not_pending"


class AppealOutcomeStands(Conflict):
    code = "appeal_outcome_stands"


class NoteHoldsPersonalData(Invalid):
    code = "note_holds_personal_data"


class EscalationNotFound(NotFound):
    code = "escalation_not_found"


class UnknownPreset(Invalid):
    code = "unknown_preset"


class PresetMismatch(Invalid):
    code = "preset_mismatch"


class RemovedByOrder(Conflict):
    """An authority's order took the item down: a moderator's decision (an appeal's
    included) may not bring it back; only the order's own course may."""

    code = "removed_by_order"

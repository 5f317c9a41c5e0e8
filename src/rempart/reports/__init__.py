# Moderation's decisions settle appeals and tell reporters their notices' outcome, and its
# review views show notices and appeals: reports subscribes to them as soon as any of its
# modules is imported (moderation/hooks.py).
from rempart.moderation import hooks as _moderation_hooks
from rempart.reports import appeals as _appeals
from rempart.reports import notices as _notices
from rempart.reports import outcomes as _outcomes
from rempart.reports import review as _review

_moderation_hooks.subscribe_reports(
    appeals=_appeals, outcomes=_outcomes, notices=_notices, review=_review
)

"""Child sexual abuse material: reports to a hotline or clearinghouse (NCMEC's
CyberTipline fields), evidence preserved, the account suspended."""

# A restricting decision in the CSAM category, or a scan's hash match, opens a hotline report:
# hotline subscribes to moderation's decisions as soon as it is imported (moderation/hooks.py).
from rempart.hotline import service as _service
from rempart.moderation import hooks as _moderation_hooks

_moderation_hooks.subscribe_hotline(_service)

"""Lawful disclosure and orders to act."""

# An order to act keeps the items it took down out of search: moderation asks through its
# hooks (moderation/hooks.py), to which legal subscribes as soon as it is imported.
from rempart.legal import ordered as _ordered
from rempart.moderation import hooks as _moderation_hooks

_moderation_hooks.subscribe_legal(_ordered)

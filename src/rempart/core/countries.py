"""Country sets several domains apply: who may be notified, who is counted where."""

from __future__ import annotations

# transparency/figures.py keeps its own copy: it runs in the standalone verifier, on the
# standard library alone. tests/test_transparency.py checks that the two agree.
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

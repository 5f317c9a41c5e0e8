"""Text folding shared by the domains that match words: search terms, moderation's signals
and n-grams, and reports' keyword checks fold text the same way."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without diacritics (``Élève`` -> ``eleve``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))

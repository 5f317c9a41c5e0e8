"""Text to search terms, the same way for documents and queries, on every database.

Terms are folded (lower case, no diacritics) and stemmed in French and in English: a
document carries both stems of each word, so a query in either language finds it, and
SQLite's FTS5 and PostgreSQL's full-text search index the very same terms.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from rempart.core.text import fold

WORD = re.compile(r"[^\W_]+")
MAX_TERM_LENGTH = 40
MAX_QUERY_WORDS = 12


@lru_cache(maxsize=1)
def _stemmers() -> dict[str, Any]:
    """Built on the first word stemmed, not when a web process starts."""
    import snowballstemmer

    return {
        lang: snowballstemmer.stemmer(name) for lang, name in (("fr", "french"), ("en", "english"))
    }


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    data = json.loads(resources.files("rempart.search").joinpath("data/stopwords.json").read_text())
    return frozenset(data["en"]) | frozenset(data["fr"])


@lru_cache(maxsize=200_000)
def stems(word: str) -> tuple[str, ...]:
    """The folded word and its distinct French and English stems, also folded.

    Stemming comes before folding: the French stemmer needs the accents ("réparons" and
    "réparer" both give "répar", while "reparons" would give "reparon").
    """
    # The word itself stays findable: stems of proper nouns and slang are unpredictable.
    folded = fold(word)
    found = [folded]
    # English has no accents, and its stemmer stumbles on them ("vélos" stays "vélos").
    stemmers = _stemmers()
    for stem in (stemmers["fr"].stemWord(word), stemmers["en"].stemWord(folded)):
        if fold(stem) not in found:
            found.append(fold(stem))
    return tuple(found)


def words(text: str) -> list[str]:
    """Lower-cased words, accents kept, without stop words or absurdly long tokens."""
    stop = stopwords()
    return [
        w
        for w in WORD.findall(text.casefold())
        if len(w) <= MAX_TERM_LENGTH and fold(w) not in stop
    ]


def index_terms(*texts: str | None) -> str:
    """The space-separated terms a document is indexed under."""
    seen: dict[str, None] = {}
    for text in texts:
        if text:
            for word in words(text):
                seen.update(dict.fromkeys(stems(word)))
    return " ".join(seen)


def query_groups(query: str) -> list[tuple[str, ...]]:
    """One group per query word: a document must match each group with one of its stems."""
    groups: list[tuple[str, ...]] = []
    for word in words(query)[:MAX_QUERY_WORDS]:
        group = stems(word)
        if group not in groups:
            groups.append(group)
    return groups

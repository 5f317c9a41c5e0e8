"""Public search over entities and posts, and the protection that refuses abuse searches."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import delete, or_, text, tuple_
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc, now_of
from rempart.core.db import dialect_insert
from rempart.core.text import fold
from rempart.search.models import ProtectedQueryCount, SearchDocument
from rempart.search.schemas import SearchPage, SearchWarning
from rempart.search.text import index_terms, query_groups

SNIPPET_CHARS = 240
# A frequent word matches a good part of the corpus, and ranking every match takes
# seconds: rank only the 1,000 most recent matches (FTS5 walks its index in rowid order and
# stops; PostgreSQL sorts the ids, not the documents).
CANDIDATES = 1000
# How many posts match, counting no further than one past the candidates: a walk up the
# index that reads no positions and computes no score.
SQLITE_MATCHES_UP_TO = (
    "SELECT count(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH ? LIMIT ?)"
)
# Each candidate is scored once; only those that can be on the page (a score no worse than
# the page's last) are joined to their documents, whose bodies are what costs to read;
# reach and id break ties between equal scores. A selective query (no more matches than
# candidates) scores them all in the index's natural order; otherwise the walk goes down
# from the newest and stops after CANDIDATES, which FTS5 does at a higher cost per row.
_SQLITE_RANKED = (
    "WITH scored AS MATERIALIZED ("
    "  SELECT rowid AS id, bm25(search_fts) AS score FROM search_fts "
    "  WHERE search_fts MATCH ? {order} LIMIT ?) "
    "SELECT d.kind, d.ref, d.entity_id, d.title, d.body, d.language, d.published_at "
    "FROM scored JOIN search_documents d ON d.id = scored.id "
    "WHERE scored.score <= IFNULL((SELECT score FROM scored ORDER BY score LIMIT 1 OFFSET ?), "
    "  9e999) "
    "ORDER BY scored.score, d.reach DESC, d.id DESC LIMIT ? OFFSET ?"
)
SQLITE_MATCH_ALL = _SQLITE_RANKED.format(order="")
SQLITE_MATCH_RECENT = _SQLITE_RANKED.format(order="ORDER BY rowid DESC")
POSTGRES_MATCH = (
    "SELECT d.kind, d.ref, d.entity_id, d.title, d.body, d.language, d.published_at "
    "FROM (SELECT id FROM search_documents WHERE terms_tsv @@ to_tsquery('simple', :expression) "
    "      ORDER BY id DESC LIMIT :candidates) recent "
    "JOIN search_documents d ON d.id = recent.id, to_tsquery('simple', :expression) q "
    "ORDER BY ts_rank(d.terms_tsv, q) DESC, d.reach DESC, d.id DESC "
    "LIMIT :limit OFFSET :offset"
)


@dataclass(frozen=True)
class IndexEntry:
    kind: str  # entity | post
    ref: str
    entity_id: str
    title: str | None
    body: str | None
    language: str | None
    reach: int
    published_at: datetime


def put(session: Session, *, entries: Sequence[IndexEntry]) -> None:
    """Make these items searchable (again), replacing what the index held for them."""
    if not entries:
        return
    remove(session, items=[(e.kind, e.ref) for e in entries])
    session.add_all(
        SearchDocument(
            kind=e.kind,
            ref=e.ref,
            entity_id=e.entity_id,
            title=e.title,
            body=e.body,
            language=e.language,
            reach=e.reach,
            published_at=e.published_at,
            terms=index_terms(e.title, e.body),
        )
        for e in entries
    )
    session.flush()


def remove(session: Session, *, items: Iterable[tuple[str, str]]) -> None:
    keys = list(items)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        session.execute(
            delete(SearchDocument)
            .where(tuple_(SearchDocument.kind, SearchDocument.ref).in_(chunk))
            .execution_options(synchronize_session=False)
        )


def remove_entity(session: Session, *, entity_id: str) -> None:
    """An entity out of search takes its posts with it."""
    session.execute(
        delete(SearchDocument)
        .where(
            or_(
                SearchDocument.entity_id == entity_id,
                (SearchDocument.kind == "entity") & (SearchDocument.ref == entity_id),
            )
        )
        .execution_options(synchronize_session=False)
    )


# -- query-side protection --------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedPattern:
    """A regular expression over the normalised query, and the ordinary sense of the same
    words that sets it aside ("vidéos cp": French first-grade videos; "robe nude": a
    colour)."""

    match: re.Pattern[str]
    unless: re.Pattern[str] | None = None


@dataclass(frozen=True)
class ProtectionList:
    id: str
    terms: dict[str, tuple[str, ...]]
    patterns: tuple[ProtectedPattern, ...]
    warnings: dict[str, str]


def _pattern(raw: str | dict[str, str]) -> ProtectedPattern:
    if isinstance(raw, str):
        return ProtectedPattern(re.compile(raw))
    unless = raw.get("unless")
    return ProtectedPattern(re.compile(raw["match"]), re.compile(unless) if unless else None)


@lru_cache(maxsize=1)
def protection_lists() -> tuple[ProtectionList, ...]:
    raw = json.loads(
        resources.files("rempart.search").joinpath("data/protected_queries.json").read_text()
    )
    return tuple(
        ProtectionList(
            id=item["id"],
            terms={lang: tuple(fold(t) for t in terms) for lang, terms in item["terms"].items()},
            patterns=tuple(_pattern(p) for p in item["patterns"]),
            warnings=item["warning"],
        )
        for item in raw["lists"]
    )


# Look-alike letters from other scripts, and digits and signs written for letters.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ρ": "p", "ν": "v",
        "κ": "k", "τ": "t", "ι": "i", "ε": "e", "һ": "h", "ӏ": "l",
    }
)  # fmt: skip
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
# Punctuation inside a word ("c.p", "p-o-r-n", "p*rn") is dropped.
_INSIDE = re.compile(r"(?<=[^\W_])[.\-_*'’·•+]+(?=[^\W_])")
_REPEATS = re.compile(r"([^\W\d_])\1+")


def _tokens(text: str) -> list[str]:
    tokens = re.findall(r"[^\W_]+|/", _INSIDE.sub("", text))
    # Letters typed one by one ("c p videos", "p o r n") make one word.
    merged: list[str] = []
    spelled = False  # whether the last word was made of letters typed one by one
    for token in tokens:
        single = len(token) == 1 and token.isalpha()
        if single and spelled:
            merged[-1] += token
        else:
            merged.append(token)
            spelled = single
    return merged


def query_forms(query: str) -> tuple[str, str, str]:
    """The query as written (folded), with leetspeak read as letters, and with repeated
    letters collapsed as well: evasions of a protected term match one of them."""
    base = fold(unicodedata.normalize("NFKC", query)).translate(_HOMOGLYPHS)
    written = " ".join(_tokens(base))
    leet = " ".join(_tokens(base.translate(_LEET)))
    return written, leet, _REPEATS.sub(r"\1", leet)


@lru_cache(maxsize=1)
def _term_patterns() -> tuple[tuple[ProtectionList, str, re.Pattern[str], re.Pattern[str]], ...]:
    """Per list and language, one pattern for its terms as written and one for their
    collapsed forms, compiled once rather than for every term of every search."""

    def alternation(words: Iterable[str]) -> re.Pattern[str]:
        return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b")

    return tuple(
        (item, lang, alternation(terms), alternation(_REPEATS.sub(r"\1", t) for t in terms))
        for item in protection_lists()
        for lang, terms in item.terms.items()
        if terms
    )


@lru_cache(maxsize=4096)
def protected(query: str) -> tuple[ProtectionList, str | None] | None:
    """The list a query falls under, and the language of the term that matched.

    A pure function of the query (the lists ship with the code): cached, as the API asks
    it once to choose its transaction and the service again."""
    written, leet, collapsed = query_forms(query)
    # An ordinary sense is read from the words as written, accents kept ("vidéos" is
    # French) as well as folded.
    accented = unicodedata.normalize("NFKC", query).casefold()
    patterns = _term_patterns()
    for item in protection_lists():
        for owner, lang, terms, short in patterns:
            if owner is item and (terms.search(written) or short.search(collapsed)):
                return item, lang
        for pattern in item.patterns:
            if not any(pattern.match.search(form) for form in (written, leet)):
                continue
            if pattern.unless is None or not any(
                pattern.unless.search(form) for form in (written, accented)
            ):
                return item, None
    return None


def _count_refusal(session: Session, list_id: str, language: str) -> None:
    statement = dialect_insert(session, ProtectedQueryCount).values(
        day=now_of(session).date(), list_id=list_id, language=language, count=1
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "list_id", "language"],
            set_={"count": ProtectedQueryCount.__table__.c.count + 1},
        )
    )


# -- search ---------------------------------------------------------------------------------


def search(session: Session, *, query: str, language: str, limit: int, offset: int) -> SearchPage:
    hit = protected(query)
    if hit is not None:
        item, matched_language = hit
        shown = matched_language or language
        _count_refusal(session, item.id, shown)
        return SearchPage(
            query=query,
            items=[],
            limit=limit,
            offset=offset,
            more=False,
            warning=SearchWarning(
                code=f"protected_query.{item.id}",
                message=item.warnings.get(shown) or item.warnings["en"],
            ),
        )
    groups = query_groups(query)
    if not groups:
        return SearchPage(query=query, items=[], limit=limit, offset=offset, more=False)
    rows = _match(session, groups, limit=limit + 1, offset=offset)
    # The page is validated in one call, its hits as plain dicts: building twenty models
    # one by one cost a selective search about as much as its query.
    return SearchPage.model_validate(
        {
            "query": query,
            "items": [_hit(row) for row in rows[:limit]],
            "limit": limit,
            "offset": offset,
            "more": len(rows) > limit,
        }
    )


def _match(
    session: Session, groups: list[tuple[str, ...]], *, limit: int, offset: int
) -> list[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return _match_sqlite(session, groups, limit=limit, offset=offset)
    expression = " & ".join(
        "(" + " | ".join(f"'{term}'" for term in group) + ")" for group in groups
    )
    table = SearchDocument.__table__.c
    typed = text(POSTGRES_MATCH).columns(
        table.kind,
        table.ref,
        table.entity_id,
        table.title,
        table.body,
        table.language,
        table.published_at,
    )
    params = {"limit": limit, "offset": offset, "candidates": CANDIDATES}
    return list(session.execute(typed, {**params, "expression": expression}).all())


def _match_sqlite(
    session: Session, groups: list[tuple[str, ...]], *, limit: int, offset: int
) -> list[Any]:
    # Every term is quoted: query syntax in the user's words is only text.
    expression = " AND ".join(
        "(" + " OR ".join(f'"{term}"' for term in group) + ")" for group in groups
    )
    # A fixed statement on the driver's own connection, inside the session's transaction:
    # for a selective query, SQLAlchemy's statement and result handling cost a third of
    # what FTS5 takes to answer (measured with bench/search.py).
    driver = session.connection().connection.driver_connection
    assert driver is not None  # a connection checked out of the pool has one
    (found,) = driver.execute(SQLITE_MATCHES_UP_TO, (expression, CANDIDATES + 1)).fetchone()
    sql = SQLITE_MATCH_ALL if found <= CANDIDATES else SQLITE_MATCH_RECENT
    parameters = (expression, CANDIDATES, offset + limit - 1, limit, offset)
    rows = driver.execute(sql, parameters).fetchall()
    return [(*row[:6], datetime.fromisoformat(row[6])) for row in rows]


def _hit(row: Any) -> dict[str, Any]:
    kind, ref, entity_id, title, body, language, published_at = row
    snippet = body[:SNIPPET_CHARS] + ("…" if len(body) > SNIPPET_CHARS else "") if body else None
    return {
        "kind": kind,
        "ref": ref,
        "entity_id": entity_id,
        "title": title,
        "snippet": snippet,
        "language": language,
        "published_at": as_utc(published_at),
    }

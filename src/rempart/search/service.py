"""Public search over entities and posts, and the protection that refuses abuse searches."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import Engine, delete, or_, select, text, tuple_
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc, now_of
from rempart.core.db import dialect_insert, sqlite_readers, transaction
from rempart.core.text import fold
from rempart.search.models import ProtectedQueryCount, SearchDocument
from rempart.search.schemas import SearchPage, SearchWarning
from rempart.search.text import index_terms, query_groups

SNIPPET_CHARS = 240
# A frequent word matches a good part of the corpus, and ranking every match takes
# seconds: rank only the 1,000 most recent matches (FTS5 walks its index in rowid order and
# stops; PostgreSQL sorts the ids, not the documents).
CANDIDATES = 1000
# Candidates kept past the page's last, so that a run of equal scores across the page's
# boundary is seen whole: the page is ordered by score, then reach, then id, and reach is
# read from the documents, which are what costs to read.
TIES = 32
# One statement, the way raw FTS5 answers: the candidates (the newest CANDIDATES matches,
# every match of a selective query) are scored as FTS5 walks them, and a sorter keeps only
# the best `keep` (the page's rows, everything before it, and TIES more), as a raw
# `ORDER BY bm25 LIMIT` does: nothing else is stored or sorted. Only those with a score no
# worse than the page's last are joined to their documents. The last column says whether
# the run of scores equal to the page's last may go on past what was kept (all kept rows
# score alike, and there were as many as kept): then SQLITE_MATCH_ALL_TIES answers. Of a
# post's body only what its snippet shows is read, and one character more to tell whether
# it was cut.
SQLITE_MATCH = (
    "WITH top AS MATERIALIZED ("
    "  SELECT id, score FROM ("
    "    SELECT rowid AS id, bm25(search_fts) AS score FROM search_fts "
    "    WHERE search_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) "
    "  ORDER BY score LIMIT ?3), "
    "bound AS (SELECT IFNULL((SELECT score FROM top ORDER BY score LIMIT 1 OFFSET ?4), "
    "  9e999) AS score) "
    "SELECT d.kind, d.ref, d.entity_id, d.title, substr(d.body, 1, ?7), d.language, "
    "  d.published_at, "
    "  (SELECT count(*) FROM top) = ?3 "
    "  AND (SELECT max(score) FROM top) <= (SELECT score FROM bound) AS cut "
    "FROM top JOIN search_documents d ON d.id = top.id "
    "WHERE top.score <= (SELECT score FROM bound) "
    "ORDER BY top.score, d.reach DESC, d.id DESC LIMIT ?5 OFFSET ?6"
)
# The same page when equal scores run past what SQLITE_MATCH kept: every candidate is
# scored once into a table, and those no worse than the page's last are read.
SQLITE_MATCH_ALL_TIES = (
    "WITH scored AS MATERIALIZED ("
    "  SELECT rowid AS id, bm25(search_fts) AS score FROM search_fts "
    "  WHERE search_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) "
    "SELECT d.kind, d.ref, d.entity_id, d.title, substr(d.body, 1, ?7), d.language, "
    "  d.published_at, 0 "
    "FROM scored JOIN search_documents d ON d.id = scored.id "
    "WHERE scored.score <= IFNULL((SELECT score FROM scored ORDER BY score LIMIT 1 OFFSET ?4), "
    "  9e999) "
    "ORDER BY scored.score, d.reach DESC, d.id DESC LIMIT ?5 OFFSET ?6"
)
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


_INDEXED = (
    SearchDocument.kind,
    SearchDocument.ref,
    SearchDocument.entity_id,
    SearchDocument.title,
    SearchDocument.body,
    SearchDocument.language,
    SearchDocument.reach,
    SearchDocument.published_at,
    SearchDocument.terms,
)


def put(session: Session, *, entries: Sequence[IndexEntry]) -> None:
    """Make these items searchable (again), replacing what the index held for them.

    A document the index already holds exactly is left as it is: a rescan puts every
    searchable item back, and rewriting the unchanged ones (and their full-text rows) was
    half of a policy rescan's database work."""
    if not entries:
        return
    wanted = {
        (e.kind, e.ref): (
            e.kind,
            e.ref,
            e.entity_id,
            e.title,
            e.body,
            e.language,
            e.reach,
            as_utc(e.published_at),
            index_terms(e.title, e.body),
        )
        for e in entries
    }
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(*_INDEXED).where(
                tuple_(SearchDocument.kind, SearchDocument.ref).in_(keys[start : start + 500])
            )
        )
        for row in rows:
            stored = (*row[:7], as_utc(row[7]), row[8])
            if wanted.get((row[0], row[1])) == stored:
                del wanted[(row[0], row[1])]
    if not wanted:
        return
    remove(session, items=list(wanted))
    session.add_all(
        SearchDocument(
            kind=kind,
            ref=ref,
            entity_id=entity_id,
            title=title,
            body=body,
            language=language,
            reach=reach,
            published_at=published_at,
            terms=terms,
        )
        for kind, ref, entity_id, title, body, language, reach, published_at, terms in (
            wanted.values()
        )
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


def public_search(
    engine: Engine, *, query: str, language: str, limit: int, offset: int
) -> SearchPage:
    """What `GET /v1/search` answers, in its own unit of work.

    Only a refused abuse search writes (its count, never who searched). On SQLite every
    other search is one statement on one of the engine's readers (a connection kept out of
    the pool, see core.db.SqliteReaders), with no session and no transaction around it (a
    statement reads one snapshot of the file): for a selective query the session, BEGIN
    and COMMIT cost a fifth of what FTS5 takes to answer (measured with bench/search.py)."""
    if protected(query) is None and engine.dialect.name == "sqlite":
        groups = query_groups(query)
        if not groups:
            return SearchPage(query=query, items=[], limit=limit, offset=offset, more=False)
        readers = sqlite_readers(engine)
        driver = readers.take()
        try:
            hits, more = _match_sqlite(driver, groups, limit=limit, offset=offset)
        finally:
            readers.give(driver)
        return _page(query, hits, limit=limit, offset=offset, more=more)
    # Every other search reads, and so never waits for a writer's lock.
    with transaction(engine, readonly=protected(query) is None) as session:
        return search(session, query=query, language=language, limit=limit, offset=offset)


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
    if session.get_bind().dialect.name == "sqlite":
        # The statement runs on the driver's own connection, inside the session's
        # transaction: SQLAlchemy's statement and result handling cost a selective search
        # a third of what FTS5 takes to answer.
        driver = session.connection().connection.driver_connection
        assert driver is not None  # a connection checked out of the pool has one
        hits, more = _match_sqlite(driver, groups, limit=limit, offset=offset)
    else:
        rows = _match_postgres(session, groups, limit=limit + 1, offset=offset)
        hits, more = [_hit(row) for row in rows[:limit]], len(rows) > limit
    return _page(query, hits, limit=limit, offset=offset, more=more)


def _page(
    query: str, hits: list[dict[str, Any]], *, limit: int, offset: int, more: bool
) -> SearchPage:
    # The page is validated in one call, its hits as plain dicts: building twenty models
    # one by one cost a selective search about as much as its query.
    return SearchPage.model_validate(
        {"query": query, "items": hits, "limit": limit, "offset": offset, "more": more}
    )


def _match_postgres(
    session: Session, groups: list[tuple[str, ...]], *, limit: int, offset: int
) -> list[Any]:
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
    driver: sqlite3.Connection, groups: list[tuple[str, ...]], *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], bool]:
    """The page's hits, and whether more results follow."""
    # Every term is quoted: query syntax in the user's words is only text.
    expression = " AND ".join(
        "(" + " OR ".join(f'"{term}"' for term in group) + ")" for group in groups
    )
    # One row past the page tells whether more follow.
    end = offset + limit + 1
    parameters = (expression, CANDIDATES, end + TIES, end - 1, limit + 1, offset, SNIPPET_CHARS + 1)
    rows = driver.execute(SQLITE_MATCH, parameters).fetchall()
    if rows and rows[0][7]:
        rows = driver.execute(SQLITE_MATCH_ALL_TIES, parameters).fetchall()
    return [_hit(row[:7], published=_utc_text) for row in rows[:limit]], len(rows) > limit


def _utc_text(stored: str) -> str | datetime:
    """A stored UTCDateTime as pydantic-core reads it fastest: its text, said to be UTC.

    SQLAlchemy keeps them on SQLite as text without a zone, in UTC; pydantic-core reads that
    text in less time than ``fromisoformat`` and ``as_utc`` take per hit. Text written with
    another zone by other means is read and converted here, as ``as_utc`` would."""
    if stored[-6] in "+-":
        return stored if stored.endswith("+00:00") else as_utc(datetime.fromisoformat(stored))
    return stored if stored[-1] == "Z" else stored + "Z"


def _snippet(body: str | None) -> str | None:
    if not body:
        return None
    return body[:SNIPPET_CHARS] + ("…" if len(body) > SNIPPET_CHARS else "")


def _hit(row: Any, *, published: Callable[[Any], Any] = as_utc) -> dict[str, Any]:
    kind, ref, entity_id, title, body, language, published_at = row
    return {
        "kind": kind,
        "ref": ref,
        "entity_id": entity_id,
        "title": title,
        "snippet": _snippet(body),
        "language": language,
        "published_at": published(published_at),
    }

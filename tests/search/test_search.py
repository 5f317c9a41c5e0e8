"""Public search: French and English, diacritics and stems, restricted items never served,
abuse searches refused with help and counted. On SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rempart.core.db import sqlite_readers, transaction
from rempart.core.deps import Runtime
from rempart.search import service
from rempart.search.models import ProtectedQueryCount
from rempart.search.service import IndexEntry

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def entry(
    ref: str,
    body: str,
    *,
    kind: str = "post",
    entity: str = "ch-1",
    reach: int = 0,
    title: str | None = None,
    language: str = "fr",
) -> IndexEntry:
    return IndexEntry(
        kind=kind,
        ref=ref,
        entity_id=entity,
        title=title,
        body=body,
        language=language,
        reach=reach,
        published_at=NOW - timedelta(hours=len(ref)),
    )


def index(runtime: Runtime, *entries: IndexEntry) -> None:
    with transaction(runtime.engine) as session:
        service.put(session, entries=list(entries))


def refs(client: TestClient, query: str, **params: object) -> list[str]:
    response = client.get("/v1/search", params={"q": query, **params})
    assert response.status_code == 200, response.text
    return [hit["ref"] for hit in response.json()["items"]]


def test_search_folds_diacritics_and_stems_in_both_languages(
    client: TestClient, runtime: Runtime
) -> None:
    index(
        runtime,
        entry("p-velo", "Réparation de vélos électriques à Lyon, atelier ouvert le samedi."),
        entry(
            "p-bike",
            "Cheap bicycle repairs, we are repairing electric bikes downtown.",
            language="en",
        ),
        entry("p-cafe", "Le café du coin organise une soirée jeux de société."),
        entry(
            "ch-lyon",
            "Annonces de la communauté lyonnaise",
            kind="entity",
            title="Lyon Entraide",
            entity="ch-lyon",
            reach=5000,
        ),
    )
    assert refs(client, "velo electrique") == ["p-velo"]
    assert refs(client, "VÉLOS") == ["p-velo"]
    assert refs(client, "réparer") == ["p-velo"]
    assert refs(client, "repair bike") == ["p-bike"]
    assert refs(client, "entraide lyon") == ["ch-lyon"]
    # Stop words alone find nothing rather than everything.
    assert refs(client, "le la de the") == []
    page = client.get("/v1/search", params={"q": "lyon", "limit": 1}).json()
    assert len(page["items"]) == 1
    assert page["more"] is True
    second = client.get("/v1/search", params={"q": "lyon", "limit": 1, "offset": 1}).json()
    assert {page["items"][0]["ref"], second["items"][0]["ref"]} == {"p-velo", "ch-lyon"}


def test_removed_items_and_entities_leave_search(client: TestClient, runtime: Runtime) -> None:
    index(
        runtime,
        entry("p-1", "Concert gratuit au parc ce dimanche", entity="ch-a"),
        entry("p-2", "Concert de jazz au parc", entity="ch-b"),
        entry("ch-b", "Jazz au parc", kind="entity", title="Jazz", entity="ch-b"),
    )
    assert sorted(refs(client, "concert parc")) == ["p-1", "p-2"]
    with transaction(runtime.engine) as session:
        service.remove(session, items=[("post", "p-1")])
    assert refs(client, "concert parc") == ["p-2"]
    with transaction(runtime.engine) as session:
        service.remove_entity(session, entity_id="ch-b")
    assert refs(client, "concert parc") == []
    assert refs(client, "jazz") == []
    # Putting an item back makes it searchable again, once.
    index(runtime, entry("p-1", "Concert gratuit au parc ce dimanche", entity="ch-a"))
    index(runtime, entry("p-1", "Concert gratuit au parc ce dimanche", entity="ch-a"))
    assert refs(client, "concert") == ["p-1"]


def test_abuse_searches_return_nothing_but_help_and_are_counted(
    client: TestClient, runtime: Runtime
) -> None:
    index(runtime, entry("p-1", "pthc collection links"))
    for query, lang in (
        ("PTHC videos", "en"),
        ("liens pédopornographie", "fr"),
        ("cp links", "en"),
    ):
        body = client.get("/v1/search", params={"q": query, "lang": lang}).json()
        assert body["items"] == []
        assert body["warning"]["code"] == "protected_query.csam"
    french = client.get("/v1/search", params={"q": "pédopornographie"}).json()
    assert "Point de Contact" in french["warning"]["message"]
    with runtime.engine.connect() as connection:
        counts = connection.execute(
            sa.select(ProtectedQueryCount.language, ProtectedQueryCount.count)
        ).all()
    assert sum(count for _, count in counts) == 4
    assert {language for language, _ in counts} == {"en", "fr"}
    # A benign query with a protected word inside another word is not refused.
    assert client.get("/v1/search", params={"q": "cpu benchmark"}).json()["warning"] is None


def test_bad_queries_are_4xx(client: TestClient) -> None:
    assert client.get("/v1/search").status_code == 422
    assert client.get("/v1/search", params={"q": ""}).status_code == 422
    assert client.get("/v1/search", params={"q": "x" * 300}).status_code == 422
    assert client.get("/v1/search", params={"q": "a", "limit": 0}).status_code == 422
    # Query syntax of either engine is just text here.
    for query in ('"unbalanced', "a AND OR NOT", "x & | ! (", "NEAR(a b)", "col:val", "*", "'"):
        response = client.get("/v1/search", params={"q": query})
        assert response.status_code == 200, (query, response.text)


def test_pages_follow_score_then_reach_with_nothing_lost_or_repeated(
    client: TestClient, runtime: Runtime
) -> None:
    # Three runs of nine posts that score alike. SQLite's bm25 prefers shorter posts, so
    # each run has its own score there (PostgreSQL's ts_rank ignores length: one run);
    # within a run reach decides. Only the rows that can be on a page are read in full: a
    # page boundary inside a run of equal scores must neither drop nor repeat a post.
    fillers = ["", " ouvert", " ouvert samedi"]
    posts = [
        entry(f"p-{n:02d}", "atelier réparation" + fillers[n % 3], reach=(n * 7) % 27)
        for n in range(27)
    ]
    index(runtime, *posts)
    by_length = runtime.engine.dialect.name == "sqlite"
    expected = [
        e.ref
        for e in sorted(posts, key=lambda e: (len(e.body or "") if by_length else 0, -e.reach))
    ]
    for size in (1, 4, 5, 7, 27, 30):
        seen: list[str] = []
        offset = 0
        while True:
            page = client.get(
                "/v1/search", params={"q": "atelier", "limit": size, "offset": offset}
            ).json()
            seen += [hit["ref"] for hit in page["items"]]
            offset += size
            if not page["more"]:
                break
        assert seen == expected, size


def test_a_frequent_word_ranks_only_the_most_recent_candidates(
    client: TestClient, runtime: Runtime
) -> None:
    # The three oldest posts would come first (shortest, widest reach), but a word this
    # frequent ranks only the newest CANDIDATES matches; among those, reach decides.
    oldest = [entry(f"old-{n}", "atelier vélo", reach=10_000 + n) for n in range(3)]
    newer = [
        entry(f"new-{n:04d}", "atelier réparation ouvert samedi", reach=n)
        for n in range(service.CANDIDATES)
    ]
    index(runtime, *oldest)
    index(runtime, *newer)
    page = client.get("/v1/search", params={"q": "atelier", "limit": 5}).json()
    assert [hit["ref"] for hit in page["items"]] == [
        f"new-{n:04d}" for n in range(service.CANDIDATES - 1, service.CANDIDATES - 6, -1)
    ]
    assert page["more"] is True
    # A selective word ranks every match: the old posts are still found.
    assert sorted(refs(client, "vélo")) == ["old-0", "old-1", "old-2"]


def test_a_run_of_equal_scores_longer_than_what_is_kept_pages_in_full(
    client: TestClient, runtime: Runtime
) -> None:
    # Search keeps the best-scored candidates past the page's last (service.TIES of them)
    # and reads the reach of those only: a run of equal scores longer than that across a
    # page's boundary is read whole, or reach would not decide within it.
    count = service.TIES * 2 + 30
    posts = [
        entry(f"p-{n:03d}", "atelier réparation", reach=(n * 37) % count) for n in range(count)
    ]
    index(runtime, *posts)
    expected = [e.ref for e in sorted(posts, key=lambda e: -e.reach)]
    for size, offset in ((20, 0), (7, 3), (20, 40), (50, service.TIES), (30, count - 10)):
        page = client.get(
            "/v1/search", params={"q": "atelier", "limit": size, "offset": offset}
        ).json()
        assert [hit["ref"] for hit in page["items"]] == expected[offset : offset + size]
        assert page["more"] is (offset + size < count)


def test_hits_show_the_snippet_cut_at_its_length_and_the_time_in_utc(
    client: TestClient, runtime: Runtime
) -> None:
    # Of a body only the snippet's characters (not bytes: "é" is two) and one more are read.
    exact = "é" * (service.SNIPPET_CHARS - len(" atelier")) + " atelier"
    longer = "atelier " + "é" * service.SNIPPET_CHARS
    index(runtime, entry("p-exact", exact, reach=2), entry("p-longer", longer, reach=1))
    page = client.get("/v1/search", params={"q": "atelier"}).json()
    hits = {hit["ref"]: hit for hit in page["items"]}
    assert hits["p-exact"]["snippet"] == exact
    assert hits["p-longer"]["snippet"] == longer[: service.SNIPPET_CHARS] + "…"
    assert hits["p-exact"]["published_at"] == "2026-10-31T17:00:00Z"
    served = service.public_search(
        runtime.engine, query="atelier", language="fr", limit=20, offset=0
    )
    for hit in served.items:
        assert hit.published_at == NOW - timedelta(hours=len(hit.ref))
        assert hit.published_at.utcoffset() == timedelta(0)
    if runtime.engine.dialect.name == "sqlite":
        # A time written with another zone (by hand, by a script) is shown in UTC all the same.
        with runtime.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE search_documents SET published_at = '2026-11-01 02:00:00+02:00' "
                "WHERE ref = 'p-exact'"
            )
        page = client.get("/v1/search", params={"q": "atelier"}).json()
        hits = {hit["ref"]: hit for hit in page["items"]}
        assert hits["p-exact"]["published_at"] == "2026-11-01T00:00:00Z"


def test_sqlite_search_reads_through_its_readers_not_the_pool(
    client: TestClient, runtime: Runtime
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL searches in a read-only transaction from the pool")
    index(runtime, entry("p-1", "Concert gratuit au parc"), entry("p-2", "Concert de jazz"))
    checkouts: list[object] = []
    sa.event.listen(runtime.engine, "checkout", lambda *args: checkouts.append(args))

    def search() -> list[str]:
        page = service.public_search(
            runtime.engine, query="concert", language="fr", limit=20, offset=0
        )
        return sorted(hit.ref for hit in page.items)

    assert search() == ["p-1", "p-2"]
    assert len(checkouts) == 1  # the reader, taken once and detached from the pool
    with transaction(runtime.engine) as session:
        service.remove(session, items=[("post", "p-1")])
    checkouts.clear()
    # An idle reader holds no snapshot: what was removed meanwhile is gone.
    assert search() == ["p-2"]
    assert search() == ["p-2"]
    assert checkouts == []


def test_a_reader_given_back_inside_a_transaction_is_closed_not_reused(
    runtime: Runtime,
) -> None:
    # A reader left holding a read transaction would serve its old snapshot for ever:
    # removed items would stay searchable.
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    index(runtime, entry("p-1", "Concert gratuit au parc"))
    readers = sqlite_readers(runtime.engine)
    stale = readers.take()
    stale.execute("BEGIN")
    stale.execute("SELECT count(*) FROM search_documents").fetchall()
    readers.give(stale)
    with transaction(runtime.engine) as session:
        service.remove(session, items=[("post", "p-1")])
    page = service.public_search(runtime.engine, query="concert", language="fr", limit=5, offset=0)
    assert page.items == []
    with pytest.raises(sqlite3.ProgrammingError):
        stale.execute("SELECT 1")
    # Disposing of the engine closes its idle readers with its pool.
    idle = readers.take()
    readers.give(idle)
    runtime.engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        idle.execute("SELECT 1")

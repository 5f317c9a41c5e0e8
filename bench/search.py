"""Search latency over a large synthetic corpus, against a raw FTS5 bm25 query.

    .venv/bin/python bench/search.py --posts 1000000

Builds (once, under /tmp unless --db is given) a SQLite database of public posts with a
Zipf-like French and English vocabulary, indexes it the way Rempart does, then runs a
query mix (rare words, common words, two-word queries) through ``rempart.search.service``
and through a raw ``MATCH … ORDER BY bm25`` on the same terms, and prints p50/p99/max.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from rempart.core.db import get_engine, transaction
from rempart.core.migrate import upgrade
from rempart.search import service
from rempart.search.text import index_terms, query_groups

WORDS_FR = (
    "vélo marché concert recette quartier école match équipe voiture train musique film "
    "livre jardin maison travail santé météo festival photo cuisine gâteau plage montagne "
    "association mairie bibliothèque piscine boulangerie fromage vin café soirée week-end "
    "réunion bénévoles collecte vente annonce location appartement chat chien randonnée"
).split()
WORDS_EN = (
    "bike market concert recipe neighbourhood school match team car train music film book "
    "garden house work health weather festival photo cooking cake beach mountain charity "
    "council library pool bakery cheese wine coffee party weekend meeting volunteers sale "
    "rent flat cat dog hike news update traffic storm election budget museum"
).split()
COMMON = ("de", "the", "et", "and", "le", "to", "la", "of")


def build(path: Path, posts: int) -> None:
    url = f"sqlite:///{path}"
    upgrade(url)
    rng = random.Random(7)
    vocabulary = WORDS_FR + WORDS_EN + [f"mot{i}" for i in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat(" ")
    batch = []
    for i in range(posts):
        words = rng.choices(vocabulary, weights=weights, k=rng.randint(12, 40))
        body = " ".join(w if rng.random() > 0.15 else rng.choice(COMMON) for w in words)
        batch.append(
            ("post", f"p{i}", f"ch{i % 3000}", body, "fr", i % 5000, now, index_terms(body))
        )
        if len(batch) == 20_000:
            connection.executemany(
                "INSERT INTO search_documents (kind, ref, entity_id, body, language, reach, "
                "published_at, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            connection.commit()
            batch.clear()
            print(f"  {i + 1} posts", flush=True)
    if batch:
        connection.executemany(
            "INSERT INTO search_documents (kind, ref, entity_id, body, language, reach, "
            "published_at, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        connection.commit()
    connection.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    connection.commit()
    connection.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/rempart-search-{args.posts}.db")
    if not path.exists():
        print(f"Building {path} with {args.posts} posts…")
        started = time.perf_counter()
        build(path, args.posts)
        print(f"Built in {time.perf_counter() - started:.0f} s")
    queries = [
        *WORDS_FR[:10],
        *WORDS_EN[:10],
        "mot5000",
        "mot19000",
        "vélos marché",
        "recipe cake",
        "concert festival",
        *COMMON,
        "train",
        "music film",
    ]
    engine = get_engine(f"sqlite:///{path}")
    raw = sqlite3.connect(path)
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(args.rounds):
        for query in queries:
            started = time.perf_counter()
            with transaction(engine) as session:
                service.search(session, query=query, language="en", limit=20, offset=0)
            ours.append((time.perf_counter() - started) * 1000)
            groups = query_groups(query) or [(query,)]
            expression = " AND ".join("(" + " OR ".join(f'"{t}"' for t in g) + ")" for g in groups)
            started = time.perf_counter()
            raw.execute(
                "SELECT rowid FROM search_fts WHERE search_fts MATCH ? "
                "ORDER BY bm25(search_fts) LIMIT 20",
                (expression,),
            ).fetchall()
            baseline.append((time.perf_counter() - started) * 1000)
    print(f"load average: {os.getloadavg()}")
    for name, values in (("rempart search", ours), ("raw FTS5 bm25", baseline)):
        print(
            f"{name:>15}: p50 {statistics.median(values):7.1f} ms  "
            f"p99 {percentile(values, 0.99):7.1f} ms  max {max(values):7.1f} ms"
        )


if __name__ == "__main__":
    main()

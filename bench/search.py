"""Search latency over a large synthetic corpus, against a raw FTS5 bm25 query.

    .venv/bin/python bench/search.py --posts 1000000 [--no-http] [--fixed-order | --warm]
    .venv/bin/python bench/search.py --posts 1000000 --check

Builds (once, under /tmp unless --db is given) a SQLite database of public posts with a
Zipf-like French and English vocabulary, indexed the way Rempart indexes them. Then runs
a query mix in three classes, told apart by how many posts match (rare: no more than the
1,000 candidates search ranks; frequent: over 5 % of the posts; mid: between), each query
timed side by side:
- **service layer**: ``rempart.search.service.public_search``, as the API calls it (on
  SQLite one statement on a pooled connection; no session or transaction);
- **through HTTP**: ``GET /v1/search`` on a real ``rempart serve`` (one process) over
  loopback, keep-alive;
- **raw FTS5**: ``SELECT rowid … MATCH … ORDER BY bm25 LIMIT 20`` on the same terms on an
  open ``sqlite3`` connection (no documents read, no Python around it); and the same
  followed by reading the twenty posts it found, which a search has to return, on another
  connection (``--shared-raw-connection``: on the same one, as figures before issue 15's
  third pass, when whichever of the two ran second found the other's pages in its cache).
``--check`` compares search's pages with a plain statement on 1,305 query, limit and offset
combinations instead of timing.
The layers take turns at running a query first (the first warms the CPU caches for the
others); ``--fixed-order`` runs the service layer first every time (the order of earlier
figures), ``--warm`` runs each call once untimed before timing it (CPU work, hot caches).
Prints p50/p99/max per class and layer, the ratio of each layer's p50 to raw FTS5's, a
summary of the per-class ratios (rare, mid, frequent) and the load average before and after.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import Engine

from rempart.core import crypto
from rempart.core.db import get_engine
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
    # Cumulated once: random.choices would otherwise sum 20,000 weights for every post (the
    # same draws either way).
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat(" ")
    batch = []
    for i in range(posts):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(12, 40))
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


RARE = ["mot5000", "mot8000", "mot12000", "mot15000", "mot19000", "mot3000 mot40"]
MID = ["bike", "market", "recipe", "neighbourhood", "school", "team", "car", "mot50", "mot500"]
MID += ["recipe cake", "music film"]
FREQUENT = [*WORDS_FR[:10], "vélos marché", "concert festival"]


DOCUMENTS = (
    "SELECT kind, ref, entity_id, title, body, language, published_at "
    "FROM search_documents WHERE id IN ({})"
)


# What search answers, said plainly: the newest CANDIDATES matches ordered by score, then
# reach, then id (every candidate scored and joined to its post; slow, but obviously right).
REFERENCE = (
    "SELECT d.ref FROM (SELECT rowid AS id, bm25(search_fts) AS score FROM search_fts "
    "WHERE search_fts MATCH ? ORDER BY rowid DESC LIMIT ?) c "
    "JOIN search_documents d ON d.id = c.id "
    "ORDER BY c.score, d.reach DESC, d.id DESC LIMIT ? OFFSET ?"
)


def check(engine: Engine, raw: sqlite3.Connection) -> None:
    """public_search's pages against REFERENCE, for every query of the mix at many limits
    and offsets (runs of equal scores across a page's boundary included)."""
    combinations = differ = 0
    for query in [*RARE, *MID, *FREQUENT]:
        expression = expression_of(query)
        for limit, offset in itertools.product(
            (1, 7, 20, 50, 100), (0, 1, 19, 20, 33, 40, 100, 500, 990)
        ):
            page = service.public_search(
                engine, query=query, language="en", limit=limit, offset=offset
            )
            expected = [
                ref
                for (ref,) in raw.execute(
                    REFERENCE, (expression, service.CANDIDATES, limit + 1, offset)
                )
            ]
            combinations += 1
            if [hit.ref for hit in page.items] != expected[:limit] or page.more != (
                len(expected) > limit
            ):
                differ += 1
                print(f"  differs: {query!r} limit {limit} offset {offset}")
    print(f"check: {combinations} query, limit and offset combinations, {differ} differ")
    if differ:
        raise SystemExit(1)


def matches(raw: sqlite3.Connection, expression: str) -> int:
    row = raw.execute(
        "SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (expression,)
    ).fetchone()
    return int(row[0])


def expression_of(query: str) -> str:
    groups = query_groups(query)
    return " AND ".join("(" + " OR ".join(f'"{t}"' for t in g) + ")" for g in groups)


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its children still running."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0.0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="rempart-search-http-"))
    env = {
        **os.environ,
        "REMPART_DATABASE_URL": f"sqlite:///{path}",
        "REMPART_KEY_FILE": str(folder / "keys.json"),
        "REMPART_AUDIT_HEAD_FILE": str(folder / "heads.jsonl"),
        "REMPART_NOTIFICATION_OUTBOX": str(folder / "outbox.jsonl"),
        "REMPART_CLASSIFIER_SEMANTIC": "0",
        "REMPART_WEB_WORKERS": "1",
    }
    crypto.write_key_file(folder / "keys.json", crypto.KeyRing.generate())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    script = str(Path(sys.executable).with_name("rempart"))
    server = subprocess.Popen(
        [script, "serve", "--port", str(port)],
        env=env,
        stdout=(folder / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return server, base, folder
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"the server did not start; see {folder / 'server.log'}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-http", action="store_true", help="service layer and raw only")
    parser.add_argument(
        "--fixed-order", action="store_true", help="run the service layer first for every query"
    )
    parser.add_argument(
        "--classes",
        default="rare,mid,frequent",
        help="the classes to time, comma-separated (more rounds of rare words in less time)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare search's pages with a plain statement on many limits and offsets, then stop",
    )
    parser.add_argument(
        "--shared-raw-connection",
        action="store_true",
        help="raw and raw + its posts on one connection (and page cache), as before",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="run each call once, untimed, just before timing it: CPU work with hot caches",
    )
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/rempart-search-{args.posts}.db")
    if not path.exists():
        print(f"Building {path} with {args.posts} posts…")
        started = time.perf_counter()
        build(path, args.posts)
        print(f"Built in {time.perf_counter() - started:.0f} s")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA cache_size=-65536")  # as Rempart's connections
    # Each layer reads through its own connection, so through its own page cache: when raw
    # and raw + its posts shared one, whichever ran second found the other's pages, which
    # the service layer (on the pool's connection) never does.
    raw_docs = raw if args.shared_raw_connection else sqlite3.connect(path)
    raw_docs.execute("PRAGMA cache_size=-65536")
    posts = int(raw.execute("SELECT count(*) FROM search_documents").fetchone()[0])
    classes: dict[str, list[tuple[str, str]]] = {"rare": [], "mid": [], "frequent": []}
    for query in RARE + MID + FREQUENT:
        expression = expression_of(query)
        found = matches(raw, expression)
        kind = (
            "rare" if found <= service.CANDIDATES else "frequent" if found > posts // 20 else "mid"
        )
        if kind in args.classes.split(","):
            classes[kind].append((query, expression))
        print(f"  {query!r:>22}: {found:>7} matches -> {kind}")
    engine = get_engine(f"sqlite:///{path}")
    if args.check:
        check(engine, raw)
        return
    load_before = os.getloadavg()
    server = None
    if not args.no_http:
        server, base, _ = start_server(path)
        http = httpx.Client(base_url=base, timeout=60)
    layers = ["service", "raw", "raw+docs"]
    if not args.no_http:
        layers.insert(1, "http")
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}  # this process's CPU; the server's, per class

    def timed(kind: str, layer: str, call: Callable[[], object]) -> None:
        started, used = time.perf_counter(), time.thread_time()
        call()
        wall.setdefault((kind, layer), []).append((time.perf_counter() - started) * 1000)
        if layer != "http":  # the server's CPU is taken per class and round
            cpu.setdefault((kind, layer), []).append((time.thread_time() - used) * 1000)

    def run_raw(expression: str, connection: sqlite3.Connection = raw) -> list[tuple[int]]:
        return connection.execute(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH ? "
            "ORDER BY bm25(search_fts) LIMIT 20",
            (expression,),
        ).fetchall()

    def run_raw_docs(expression: str) -> None:
        # The same, then the page's posts read as search serves them.
        listed = ",".join(str(i) for (i,) in run_raw(expression, raw_docs)) or "NULL"
        raw_docs.execute(DOCUMENTS.format(listed)).fetchall()

    def run_http(query: str) -> None:
        response = http.get("/v1/search", params={"q": query, "limit": 20})
        if response.status_code != 200:
            raise SystemExit(f"{query!r}: HTTP {response.status_code}")

    try:
        for round_number in range(args.rounds):
            for kind, queries in classes.items():
                server_cpu = cpu_seconds(server.pid) if server is not None else 0.0
                for number, (query, expression) in enumerate(queries):
                    # Side by side, query by query: the machine's load hits all layers alike.
                    # Whichever layer runs a query first reads its index pages and posts
                    # into the CPU's caches for the next: the same raw FTS5 statement run
                    # twice in a row took half the CPU the second time (0.50 then 0.24 ms,
                    # rare words at 1 M posts). The order turns, query by query and round
                    # by round, so that each layer goes first as often as the others
                    # (--fixed-order: the service layer always first, as before).
                    calls: dict[str, Callable[[], object]] = {
                        "service": partial(
                            service.public_search,
                            engine,
                            query=query,
                            language="en",
                            limit=20,
                            offset=0,
                        ),
                        "raw": partial(run_raw, expression),
                        "raw+docs": partial(run_raw_docs, expression),
                    }
                    if server is not None:
                        calls["http"] = partial(run_http, query)
                    turn = 0 if args.fixed_order else (round_number + number) % len(layers)
                    for layer in layers[turn:] + layers[:turn]:
                        if args.warm:
                            calls[layer]()
                        timed(kind, layer, calls[layer])
                if server is not None and queries:
                    spent = (cpu_seconds(server.pid) - server_cpu) * 1000 / len(queries)
                    cpu.setdefault((kind, "http"), []).append(spent)
    finally:
        if server is not None:
            http.close()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    print(f"{posts:,} posts, {args.rounds} rounds; SQLite")
    print(
        "wall: milliseconds per query; CPU: the timing thread's CPU (service, raw) or the "
        "server process's CPU per request, a mean per round (HTTP, clock ticks of 10 ms)"
    )
    names = {
        "service": "service layer",
        "http": "through HTTP",
        "raw": "raw FTS5 bm25",
        "raw+docs": "raw + its posts",
    }
    for kind, queries in classes.items():
        if not queries:
            continue
        raw_wall = statistics.median(wall[(kind, "raw")])
        raw_cpu = statistics.median(cpu[(kind, "raw")])
        full_cpu = statistics.median(cpu[(kind, "raw+docs")])
        for layer in layers:
            values = wall[(kind, layer)]
            p50 = statistics.median(values)
            p50_cpu = statistics.median(cpu[(kind, layer)])
            ratio = (
                ""
                if layer.startswith("raw")
                else f"  ratio to raw p50: wall {p50 / raw_wall:5.2f}, CPU {p50_cpu / raw_cpu:5.2f}"
                f" (to raw + its posts, CPU {p50_cpu / full_cpu:5.2f})"
            )
            print(
                f"{kind:>8} ({len(queries):>2} queries) {names[layer]:>15}: wall p50 {p50:7.2f} "
                f"p99 {percentile(values, 0.99):7.1f} max {max(values):7.1f}; "
                f"CPU p50 {p50_cpu:7.2f}{ratio}"
            )
    print("ratio of p50 to raw FTS5's p50 (CPU / wall), per class:")
    for layer in layers:
        if layer.startswith("raw"):
            continue
        shown = []
        for kind, queries in classes.items():
            if not queries:
                continue
            values, raw_values = wall[(kind, layer)], wall[(kind, "raw")]
            cpu_ratio = statistics.median(cpu[(kind, layer)]) / statistics.median(
                cpu[(kind, "raw")]
            )
            wall_ratio = statistics.median(values) / statistics.median(raw_values)
            p99_ratio = percentile(values, 0.99) / percentile(raw_values, 0.99)
            shown.append(f"{kind} x{cpu_ratio:.2f} / x{wall_ratio:.2f} (p99 wall x{p99_ratio:.2f})")
        print(f"  {names[layer]:>15}: " + "; ".join(shown))
    print(f"load average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()

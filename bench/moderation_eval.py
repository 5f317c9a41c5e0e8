"""How moderation treats the labelled demo corpus: per intended category, how many posts
end visible, queued or restricted, and what searches for offers return.

    .venv/bin/python bench/moderation_eval.py --posts 4000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.demo import seed as demo
from rempart.demo.content import DemoSize, labelled_posts
from rempart.moderation import tasks
from rempart.moderation.models import ModerationItem
from rempart.search import service as search

QUERIES = {
    "drug_sales": ["beuh dispo", "coke livraison", "weed delivery", "mdma available"],
    "weapons": ["glock", "vends pistolet", "selling rifle", "ak-47"],
    "piracy": ["streaming gratuit", "free stream", "film 4k téléchargement", "iptv"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=4000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-eval-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'eval.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
        notification_outbox=folder / "outbox.jsonl",
        demo=True,
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate(demo=True))
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=True),
    )
    size = DemoSize(accounts=400, connections=1000, entities=60, posts=args.posts)
    now = datetime.now(UTC)
    started = time.perf_counter()
    demo.seed(
        rt,
        console=Console(quiet=True),
        accounts=400,
        connections=1000,
        entities=60,
        posts=args.posts,
    )
    from rempart.core import jobs

    scanned = 0
    while (job := jobs.claim(rt.engine)) is not None:
        with transaction(rt.engine) as session:
            handler = tasks.JOB_HANDLERS.get(job.kind)
            if handler is not None:
                handler(session, rt, job.payload)
                scanned += len(job.payload.get("post_ids", []))
            jobs.finish(session, job.id)
    elapsed = time.perf_counter() - started
    labels = dict(labelled_posts(size=size, now=now))
    with transaction(rt.engine, readonly=True) as session:
        states = dict(
            session.execute(
                select(ModerationItem.ref, ModerationItem.state).where(
                    ModerationItem.kind == "post"
                )
            ).all()
        )
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for post_id, category in labels.items():
        table[category][states.get(post_id, "unscanned")] += 1
    print(f"seed + scan of {scanned} posts in {elapsed:.1f} s; load {os.getloadavg()}")
    print(f"{'intended category':<20} {'visible':>8} {'queued':>8} {'restricted':>10}")
    for category in sorted(table):
        row = table[category]
        print(f"{category:<20} {row['visible']:>8} {row['queued']:>8} {row['restricted']:>10}")
    with transaction(rt.engine) as session:
        for category, queries in QUERIES.items():
            for query in queries:
                page = search.search(session, query=query, language="fr", limit=100, offset=0)
                hits = [labels.get(h.ref, "entity") for h in page.items]
                bad = sum(1 for h in hits if h == category)
                print(f"search {query!r:<28} {len(hits):>3} results, {bad} {category}")


if __name__ == "__main__":
    main()

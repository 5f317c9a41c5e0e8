"""Hotline reports and Art. 18 notifications: how long the worker takes per report, and a
legal reviewer's confirmation per notification.

    .venv/bin/python bench/hotline.py --posts 300 --escalations 100 [--database-url …]

Publishes ``--posts`` posts, each with an image known (by its SHA-256) to a bank of
category csam_indicators and an author holding a phone number and three connections;
scans them; then times, at the service layer, the delivery of every report (build the
CyberTipline JSON, write it through the directory port, preserve the evidence encrypted,
suspend the account, audit), in the worker's batches. Then escalates ``--escalations``
items and times preparation (escalate) and confirmation (read, confirm and send through
the authority outbox). Prints medians and totals.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from raid import drain, event, ingest  # type: ignore[import-not-found]
from sqlalchemy import func, select

from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.escalations import service as escalations
from rempart.escalations import tasks as escalation_tasks
from rempart.escalations.schemas import EscalationCreate
from rempart.hotline import tasks
from rempart.hotline.models import HotlineReport
from rempart.hotline.reporter import DirectoryHotline
from rempart.moderation import banks
from rempart.moderation.models import ModerationItem

NOW = datetime.now(UTC) - timedelta(hours=1)


def world(posts: int) -> tuple[list[dict[str, Any]], list[str]]:
    events: list[dict[str, Any]] = [
        event("e-ch", "entity.published", NOW, entity_id="ch-b", kind="group", title="Bench")
    ]
    known = []
    for i in range(posts):
        user = f"u-{i}"
        digest = hashlib.sha256(f"known-{i}".encode()).hexdigest()
        known.append(digest)
        events.append(
            event(
                f"a-{i}",
                "account.registered",
                NOW - timedelta(days=30),
                user_id=user,
                phone_number=f"+61 491 570 {i % 1000:03d}",
            )
        )
        for c in range(3):
            events.append(
                event(
                    f"c-{i}-{c}",
                    "connection.seen",
                    NOW - timedelta(hours=c),
                    user_id=user,
                    ip=f"198.51.100.{(i + c) % 250 + 1}",
                    port=40000 + c,
                )
            )
        events.append(
            event(
                f"p-{i}",
                "post.published",
                NOW,
                post_id=f"p-{i}",
                entity_id="ch-b",
                author_user_id=user,
                text=f"threat {i}",
                media=[{"sha256": digest}],
            )
        )
    return events, known


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--escalations", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-hotline-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'hotline.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
        notification_outbox=folder / "outbox.jsonl",
        authority_outbox=folder / "authority.jsonl",
        hotline_directory=folder / "hotline",
        classifier_semantic=False,
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )
    events, known = world(args.posts)
    bank = folder / "bank.csv"
    bank.write_text(
        "hash,algorithm,category\n" + "".join(f"{h},sha256,csam_indicators\n" for h in known)
    )
    with transaction(rt.engine) as session:
        banks.import_csv(
            session, path=bank, bank="bench", category=None, source=None, actor="bench"
        )
    ingest(rt, events)
    drain(rt)

    reporter = DirectoryHotline(settings.hotline_directory)
    per_batch: list[float] = []
    sent = 0
    started = time.perf_counter()
    while True:
        begin = time.perf_counter()
        done = tasks.deliver(rt, reporter=reporter, now=datetime.now(UTC))
        if not done:
            break
        per_batch.append((time.perf_counter() - begin) / done)
        sent += done
    total = time.perf_counter() - started
    with transaction(rt.engine, readonly=True) as session:
        reports = session.execute(select(func.count()).select_from(HotlineReport)).scalar_one()
    print(f"hotline reports: {reports} opened, {sent} sent by the timed loop in {total:.2f} s")
    if per_batch:
        print(f"  per report: median {statistics.median(per_batch) * 1000:.1f} ms")

    with transaction(rt.engine) as session:
        mod = auth.create_token(session, role=Role.MODERATOR, name="mod", actor="bench")
        legal = auth.create_token(session, role=Role.LEGAL, name="legal", actor="bench")
    with transaction(rt.engine, readonly=True) as session:
        moderator = auth.authenticate(session, token=mod.token)
        reviewer = auth.authenticate(session, token=legal.token)
        items = list(
            session.execute(
                select(ModerationItem.id)
                .where(ModerationItem.kind == "post")
                .limit(args.escalations)
            ).scalars()
        )
    prepare: list[float] = []
    confirm: list[float] = []
    for item_id in items:
        begin = time.perf_counter()
        with transaction(rt.engine) as session:
            created = escalations.escalate(
                session,
                keys=rt.keys,
                settings=settings,
                caller=moderator,
                data=EscalationCreate(
                    item_id=item_id, explanation="A credible threat against named people, today."
                ),
            )
        prepare.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        with transaction(rt.engine) as session:
            escalations.read_notification(
                session, keys=rt.keys, caller=reviewer, reference=created.reference
            )
            escalations.confirm(session, caller=reviewer, reference=created.reference)
        escalation_tasks.run(rt)  # the worker's send, in its own short transaction
        confirm.append(time.perf_counter() - begin)
    if prepare:
        prepared = statistics.median(prepare) * 1000
        confirmed = statistics.median(confirm) * 1000
        print(
            f"escalations: {len(prepare)}; prepare median {prepared:.1f} ms, "
            f"read+confirm+send median {confirmed:.1f} ms"
        )


if __name__ == "__main__":
    main()

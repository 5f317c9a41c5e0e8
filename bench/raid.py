"""Mass-report raid against organic reporting.

    .venv/bin/python bench/raid.py [--database-url postgresql://...]

A lawful channel is hit by 300 notices from 300 accounts created within the last hour,
sharing a dozen network blocks and one script. Meanwhile established users and a trusted
flagger report genuinely violating posts, and five viral scams each draw an organic burst of
100 notices within minutes. Everything goes through the service layer the API uses, one
transaction per notice; the worker then assesses the cases. Prints whether the channel stayed
searchable, whether the raid was flagged, how many organic bursts were wrongly flagged, where
the genuine cases rank in the moderators' queue, and the intake throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationItem
from rempart.platform import service
from rempart.platform.schemas import event_batch_adapter
from rempart.reports import intake
from rempart.reports.models import ReportCase
from rempart.reports.schemas import ReportCreate
from rempart.search import service as search
from rempart.worker import Worker

NOW = datetime.now(UTC)
ORGANIC_TEXTS = [
    "Arnaque : ils demandent des frais avant de verser quoi que ce soit.",
    "This is a scam, my neighbour paid the fee and never heard back.",
    "Faux placement crypto, promesse de rendement garanti, c'est illégal.",
    "Fake giveaway asking for card details, please take it down.",
    "Escroquerie classique, le lien mène vers une fausse page de banque.",
    "They ask for a deposit to unlock winnings that do not exist.",
    "Ils vendent de la drogue ouvertement dans ce message, avec les prix.",
    "Selling pills with a price list and delivery, clearly illegal.",
    "Vente d'armes sans permis proposée ici, c'est grave.",
    "Phishing link pretending to be the tax office.",
]


def ingest(rt: Runtime, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 5000):
        chunk = events[start : start + 5000]
        batch = event_batch_adapter.validate_python({"events": chunk})
        digest = service.body_digest(json.dumps(chunk, sort_keys=True).encode())
        with transaction(rt.engine) as session:
            service.ingest(session, keys=rt.keys, batch=batch, body_digest=digest, actor="bench")


def event(event_id: str, event_type: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "occurred_at": at.isoformat(), **fields}


def world(rng: random.Random) -> list[dict[str, Any]]:
    old = NOW - timedelta(days=500)
    events = [
        event(
            "e-lawful",
            "entity.published",
            old,
            entity_id="ch-lawful",
            kind="channel",
            username="solidarite_littoral",
            title="Solidarité Littoral",
            description="Repas, douches, permanences juridiques pour les personnes exilées.",
            owner_user_id="u-lawful-admin",
            member_count=9000,
        ),
        event(
            "e-shady",
            "entity.published",
            old,
            entity_id="ch-shady",
            kind="channel",
            username="bons_plans_faciles",
            title="Bons plans faciles",
            owner_user_id="u-shady",
            member_count=25000,
        ),
    ]
    for i in range(25):
        events.append(
            event(
                f"p-bad-{i}",
                "post.published",
                old + timedelta(days=400, minutes=i),
                post_id=f"bad-{i}",
                entity_id="ch-shady",
                text=f"Offre {i}: gagnez vite, déposez d'abord des frais sur notre site",
            )
        )
    for i in range(300):  # raiders: created within the last hour, a dozen proxy blocks
        user = f"raider-{i}"
        created = NOW - timedelta(minutes=rng.uniform(5, 60))
        events.append(event(f"r-{user}", "account.registered", created, user_id=user))
        events.append(
            event(
                f"c-{user}",
                "connection.seen",
                created + timedelta(minutes=1),
                user_id=user,
                ip=f"198.18.{rng.randrange(12)}.{rng.randrange(1, 255)}",
            )
        )
    for i in range(2000):  # established users: years old, each from their own network
        user = f"member-{i}"
        created = NOW - timedelta(days=rng.uniform(200, 2000))
        events.append(event(f"r-{user}", "account.registered", created, user_id=user))
        for k in range(3):
            events.append(
                event(
                    f"c-{user}-{k}",
                    "connection.seen",
                    NOW - timedelta(days=k + 1),
                    user_id=user,
                    ip=f"2001:db8:{i:x}:{k:x}::1",
                )
            )
    return events


def notices(rng: random.Random, flagger: auth.Caller, platform: auth.Caller) -> list[tuple]:
    """(kind, sender, body) in the order they arrive."""
    raid = []
    for i in range(300):
        text = rng.choice(
            [
                "Cette chaîne fait l'apologie du terrorisme et de l'immigration illégale",
                "Cette chaine fait l apologie du terrorisme et de l immigration illegale !!",
            ]
        )
        raid.append(
            (
                "raid",
                platform,
                {
                    "target": {"kind": "entity", "id": "ch-lawful"},
                    "category": "terrorism",
                    "explanation": text,
                    "platform_user_id": f"raider-{i}",
                    "good_faith": True,
                },
            )
        )
    organic = []
    members = iter(rng.sample(range(2000), 2000))
    for i in range(20):  # genuine cases: a few established users each
        for _ in range(3):
            organic.append(
                (
                    "genuine",
                    platform,
                    {
                        "target": {"kind": "post", "id": f"bad-{i}"},
                        "category": "scams_fraud",
                        "explanation": rng.choice(ORGANIC_TEXTS) + f" (post {i})",
                        "platform_user_id": f"member-{next(members)}",
                        "good_faith": True,
                    },
                )
            )
    for i in range(5):
        organic.append(
            (
                "genuine",
                flagger,
                {
                    "target": {"kind": "post", "id": f"bad-{i}"},
                    "category": "scams_fraud",
                    "explanation": "Advance-fee fraud pattern documented in our casework.",
                    "good_faith": True,
                },
            )
        )
    for burst in range(5):  # viral scams: 100 organic notices each, within minutes
        for _ in range(100):
            organic.append(
                (
                    f"burst-{burst}",
                    platform,
                    {
                        "target": {"kind": "post", "id": f"bad-{20 + burst}"},
                        "category": "scams_fraud",
                        "explanation": rng.choice(ORGANIC_TEXTS)
                        + rng.choice(["", " Merci.", " Please act.", " Urgent.", " 🙏"]),
                        "platform_user_id": f"member-{next(members)}",
                        "good_faith": True,
                    },
                )
            )
    mixed = raid + organic
    rng.shuffle(mixed)
    return mixed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-raid-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'raid.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
        notification_outbox=folder / "outbox.jsonl",
        classifier_semantic=False,
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )
    rng = random.Random(11)
    ingest(rt, world(rng))
    drain(rt)
    with transaction(rt.engine) as session:
        platform_token = auth.create_token(session, role=Role.PLATFORM, name="pf", actor="bench")
        flagger_token = auth.create_token(session, role=Role.FLAGGER, name="ngo", actor="bench")
    with transaction(rt.engine, readonly=True) as session:
        platform = auth.authenticate(session, token=platform_token.token)
        flagger = auth.authenticate(session, token=flagger_token.token)
    stream = notices(rng, flagger, platform)
    # As many senders as the web server has processes (REMPART_WEB_WORKERS), each with its
    # own connection, as concurrent requests would be.
    parts = [stream[i :: args.processes] for i in range(args.processes)]
    rt.engine.dispose()  # no connection may be shared with the forked senders
    started = time.perf_counter()
    with ProcessPoolExecutor(args.processes) as pool:
        list(pool.map(send, [settings] * args.processes, parts, [flagger] * args.processes))
    elapsed = time.perf_counter() - started
    drain(rt)
    with transaction(rt.engine, readonly=True) as session:
        cases = {c.target_ref: c for c in session.execute(select(ReportCase)).scalars()}
        queue = list(
            session.execute(
                select(ModerationItem.ref)
                .where(ModerationItem.pending_review.is_(True))
                .order_by(ModerationItem.priority.desc(), ModerationItem.id)
            ).scalars()
        )
        hits = search.search(
            session, query="solidarité littoral", language="fr", limit=10, offset=0
        )
    lawful = cases["ch-lawful"]
    searchable = any(h.ref == "ch-lawful" for h in hits.items)
    bursts = [cases[f"bad-{20 + b}"] for b in range(5)]
    genuine = [queue.index(f"bad-{i}") + 1 for i in range(25) if f"bad-{i}" in queue]
    print(
        f"intake: {len(stream)} notices in {elapsed:.2f} s from {args.processes} processes: "
        f"{len(stream) / elapsed:,.0f} notices/s"
    )
    print(f"lawful channel still searchable: {searchable}")
    print(
        f"raid flagged: {lawful.raid_suspected} (score {lawful.raid_score:.2f}, "
        f"signals {json.dumps(lawful.raid_signals)})"
    )
    wrongly = sum(c.raid_suspected for c in bursts)
    scores = ", ".join(f"{c.raid_score:.2f}" for c in bursts)
    print(f"organic bursts wrongly flagged as raids: {wrongly} of {len(bursts)} (scores {scores})")
    print(
        f"queue: {len(queue)} items; genuine cases at ranks {min(genuine)}-{max(genuine)}; "
        f"the raided channel at rank {queue.index('ch-lawful') + 1}"
    )
    print(f"load average: {os.getloadavg()}")


def send(settings: Settings, part: list[tuple[str, Any, dict[str, Any]]], flagger: Any) -> None:
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )
    for _, sender, body in part:
        with transaction(rt.engine) as session:
            intake.submit(
                session,
                keys=rt.keys,
                settings=settings,
                data=ReportCreate.model_validate(body),
                sender=intake.Sender(
                    caller=sender,
                    network=None,
                    channel="flagger" if sender == flagger else "platform",
                ),
                now=datetime.now(UTC),
            )


def drain(rt: Runtime) -> None:
    worker = Worker(rt)
    while worker.tick():
        pass


if __name__ == "__main__":
    main()

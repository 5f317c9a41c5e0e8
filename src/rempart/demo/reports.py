"""Demo notices, so that the review queue shows what notices bring: organic reports from
established demo users and from the demo trusted flagger on the posts that look most like
violations, and a raid of freshly created accounts on a lawful channel. Synthetic accounts
only; addresses from the benchmarking range 198.18.0.0/15."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from rempart.auth import service as auth
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import ngram
from rempart.platform import service
from rempart.platform.models import Account, Post
from rempart.platform.schemas import event_batch_adapter
from rempart.reports import intake
from rempart.reports.schemas import ReportCreate

RAIDERS = 60
LAWFUL_CHANNEL = "demo-solidarite-littoral"
COMPLAINTS = [
    "Arnaque évidente, on vous demande de payer avant de recevoir quoi que ce soit.",
    "This looks like an illegal sale, prices and delivery are listed openly.",
    "Ce message propose un produit illégal avec livraison, à retirer.",
    "Obvious scam asking for a fee first, please remove it.",
    "Vente illégale en public, les prix sont affichés.",
]


def _event(event_id: str, event_type: str, at: datetime, **fields: object) -> dict[str, object]:
    return {"id": event_id, "type": event_type, "occurred_at": at.isoformat(), **fields}


def _raid_world(rng: random.Random, now: datetime) -> list[dict[str, object]]:
    events: list[dict[str, object]] = [
        _event(
            "demo-raid-channel",
            "entity.published",
            now - timedelta(days=420),
            entity_id=LAWFUL_CHANNEL,
            kind="channel",
            username="solidarite_littoral",
            title="Solidarité Littoral",
            description=(
                "Informations pratiques pour les personnes exilées sur le littoral : repas, "
                "douches, permanences juridiques, numéros d'urgence."
            ),
            owner_user_id="demo-solidarite-admin",
            member_count=8200,
        )
    ]
    for i in range(RAIDERS):
        created = now - timedelta(minutes=rng.uniform(10, 70))
        user = f"demo-raider-{i}"
        events.append(
            _event(f"{user}-reg", "account.registered", created, user_id=user, synthetic=True)
        )
        events.append(
            _event(
                f"{user}-con",
                "connection.seen",
                created + timedelta(minutes=2),
                user_id=user,
                ip=f"198.18.{rng.randrange(4)}.{rng.randrange(1, 255)}",
            )
        )
    return events


def seed_reports(rt: Runtime, *, platform_token: str, flagger_token: str) -> int:
    rng = random.Random(23)
    now = rt.now()
    events = _raid_world(rng, now)
    batch = event_batch_adapter.validate_python({"events": events})
    with transaction(rt.engine) as session:
        service.ingest(
            session,
            keys=rt.keys,
            batch=batch,
            body_digest=service.body_digest(repr(events).encode()),
            actor="system:demo",
        )
    with transaction(rt.engine, readonly=True) as session:
        platform = auth.authenticate(session, token=platform_token)
        flagger = auth.authenticate(session, token=flagger_token)
        established = list(
            session.execute(
                select(Account.user_id)
                .where(Account.registered_at < now - timedelta(days=60))
                .order_by(Account.registered_at)
                .limit(60)
            ).scalars()
        )
        posts = list(
            session.execute(
                select(Post.post_id, Post.text)
                .where(Post.text.is_not(None), Post.deleted_at.is_(None))
                .limit(5000)
            ).all()
        )
    scores = ngram.load_default().probabilities([text or "" for _, text in posts])
    worst = sorted(range(len(posts)), key=lambda i: float(scores[i][0]))[:15]
    notices: list[tuple[Caller, dict[str, object]]] = []
    for rank, index in enumerate(worst):
        for user in rng.sample(established, 3):
            notices.append(
                (
                    platform,
                    {
                        "target": {"kind": "post", "id": posts[index][0]},
                        "category": "scams_fraud" if rank % 2 else "drug_sales",
                        "explanation": rng.choice(COMPLAINTS),
                        "platform_user_id": user,
                        "good_faith": True,
                    },
                )
            )
        if rank < 3:
            notices.append(
                (
                    flagger,
                    {
                        "target": {"kind": "post", "id": posts[index][0]},
                        "category": "scams_fraud",
                        "explanation": "Pattern documented in our casework; please review.",
                        "good_faith": True,
                    },
                )
            )
    for i in range(RAIDERS):
        notices.append(
            (
                platform,
                {
                    "target": {"kind": "entity", "id": LAWFUL_CHANNEL},
                    "category": "terrorism",
                    "explanation": "Cette chaîne fait l'apologie du terrorisme, à supprimer !",
                    "platform_user_id": f"demo-raider-{i}",
                    "good_faith": True,
                },
            )
        )
    for sender, body in notices:
        with transaction(rt.engine) as session:
            intake.submit(
                session,
                keys=rt.keys,
                settings=rt.settings,
                data=ReportCreate.model_validate(body),
                sender=intake.Sender(
                    caller=sender,
                    network=None,
                    channel="flagger" if sender is flagger else "platform",
                ),
                now=rt.now(),
            )
    return len(notices)

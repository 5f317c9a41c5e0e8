"""Raid scenario suite: raids of every shape against genuine bursts.

    .venv/bin/python bench/raid_suite.py [--database-url postgresql://...] [--seed 5]

Builds, in one database, 25 raids on established lawful channels and 25 genuine bursts on
harmful posts, plus 20 small genuine cases, each with its own generated people:
- raids: crude (fresh accounts, a few /24s, one script), web-form raids without accounts
  (scripted addresses from 20, 10 or 1 networks, few texts or varied ones; human-looking
  addresses and varied texts from 10 networks), sleeper accounts
  (10 to 60 days old, barely used, each on its own network, varied texts), slow raids (fresh
  accounts on hundreds of networks over six hours, varied texts), and a sleeper ring that
  comes back for a second and third target;
- genuine: news events reported by established users within minutes, new communities
  (accounts 1 to 6 days old in daily use), people behind one carrier's shared address
  (CGNAT), public outrage through the web form, mixed platform and web.
Notices go through the service layer the API uses (``intake.submit``, one transaction per
notice, with the time each was sent); the worker then files and assesses them. Prints the
share of raids marked, of genuine bursts marked, each case's score and signals, and how
often a raid case ranks above a genuine case of the same severity.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from raid import ingest  # the same ingest path as bench/raid.py
from sqlalchemy import select

from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationItem
from rempart.reports import intake
from rempart.reports.models import ReportCase
from rempart.reports.schemas import ReportCreate
from rempart.worker import Worker

NOW = datetime.now(UTC)
OPENINGS = [
    "This channel",
    "Cette chaîne",
    "The people behind this",
    "Ce compte",
    "Honestly this group",
    "Les admins ici",
    "This page",
    "Ce groupe",
]
CLAIMS = [
    "glorifies terrorism",
    "fait l'apologie du terrorisme",
    "helps smugglers and violent groups",
    "encourage la violence contre la police",
    "spreads extremist propaganda",
    "relaie de la propagande djihadiste",
    "is a front for an illegal network",
    "organise l'immigration clandestine",
]
ENDINGS = [
    "please act now.",
    "il faut la fermer.",
    "I am shocked.",
    "c'est inadmissible.",
    "report it to the authorities.",
    "merci de supprimer.",
    "ban them.",
    "stop ça.",
]
GENUINE = [
    "the video shows a man being beaten and they laugh about it",
    "on voit clairement le visage de la victime, c'est du harcèlement",
    "they posted my sister's home address and phone number",
    "ce message donne l'adresse d'un journaliste et appelle à aller le voir",
    "this is the clip from the attack yesterday, shared to celebrate it",
    "la vidéo de l'agression circule ici avec des commentaires haineux",
    "they are doxxing a teacher after the news story, with her street",
    "I saw this after the news, it is the same footage, please remove",
    "des insultes racistes sous chaque photo, et ils encouragent à recommencer",
    "my friend is in this video without consent, it is humiliating",
    "it keeps being reposted with new links, same harassment",
    "c'est la même vidéo que celle dont parlent les journaux ce matin",
]
FIRST = [
    "camille",
    "n.diallo",
    "jb",
    "maxime.leroy",
    "sofia_r",
    "t.nguyen",
    "ana",
    "mo",
    "pierre-louis",
    "k.benali",
    "lea.martin",
    "yuki",
    "olga.p",
    "sam",
    "ines",
    "hugo",
    "a.rossi",
    "fatou",
    "j.smith",
    "lina",
]
DOMAINS = [
    "example.org",
    "example.net",
    "example.com",
    "mail.example",
    "poste.example",
    "courriel.example",
]


@dataclass
class Scenario:
    name: str
    raid: bool
    target: str  # entity id (raids) or post id (genuine)
    kind: str
    category: str
    accounts: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[datetime, str | None, dict[str, Any]]] = field(default_factory=list)


def ev(event_id: str, event_type: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "occurred_at": at.isoformat(), **fields}


def people(
    rng: random.Random,
    prefix: str,
    count: int,
    *,
    age: tuple[float, float],
    connections: tuple[int, int],
    networks: int,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Accounts aged ``age`` days, seen a number of times in ``connections`` lately, from
    ``networks`` blocks (one each when ``networks`` >= ``count``)."""
    users, events = [], []
    for i in range(count):
        user = f"{prefix}-{i}"
        users.append(user)
        created = NOW - timedelta(days=rng.uniform(*age))
        events.append(ev(f"reg-{user}", "account.registered", created, user_id=user))
        block = zlib.crc32(f"{prefix}:{i % networks}".encode()) & 0xFFFFFF
        for k in range(rng.randint(*connections)):
            seen = max(created + timedelta(minutes=5 + k), NOW - timedelta(days=rng.uniform(0, 80)))
            events.append(
                ev(
                    f"con-{user}-{k}",
                    "connection.seen",
                    seen,
                    user_id=user,
                    # The /48 (what a network's keyed hash covers) takes 16 of the bits.
                    ip=f"2001:db8:{block & 0xFFFF:x}:{block >> 16:x}::{k + 1:x}",
                )
            )
    return users, events


def varied(rng: random.Random) -> str:
    return f"{rng.choice(OPENINGS)} {rng.choice(CLAIMS)}, {rng.choice(ENDINGS)}"


DETAILS = [
    "my cousin sent it to me",
    "je l'ai vu ce matin",
    "it is in my feed since noon",
    "des amis me l'ont montré",
    "I am a teacher at that school",
    "j'habite à côté",
    "the account has 4,000 followers",
    "c'est partagé dans plusieurs groupes",
    "I reported it on the app too",
    "ma fille est choquée",
    "this is not the first time",
    "personne ne réagit",
]
CLOSINGS = [
    "please remove it",
    "merci d'agir vite",
    "",
    "thank you",
    "c'est urgent",
    "this has to stop",
    "svp",
    "I hope someone looks at it",
]


def genuine_text(rng: random.Random) -> str:
    """What a person writes: what they saw, something of their own, maybe a plea."""
    return f"{rng.choice(GENUINE)}; {rng.choice(DETAILS)}. {rng.choice(CLOSINGS)}".strip()


def times(rng: random.Random, count: int, *, over: timedelta, decay: bool) -> list[datetime]:
    """When notices arrive: steadily over ``over``, or mostly at first (a news event)."""
    start = NOW - over
    if decay:
        return sorted(start + over * min(1.0, rng.expovariate(5.0)) for _ in range(count))
    return sorted(start + over * rng.random() for _ in range(count))


def platform_notices(
    sc: Scenario,
    rng: random.Random,
    users: list[str],
    when: list[datetime],
    text: Callable[[], str],
) -> None:
    for user, at in zip(users, when, strict=False):
        sc.notices.append(
            (
                at,
                None,
                {
                    "target": {"kind": sc.kind, "id": sc.target},
                    "category": sc.category,
                    "explanation": text(),
                    "platform_user_id": user,
                    "good_faith": True,
                },
            )
        )


def web_notices(
    sc: Scenario,
    rng: random.Random,
    count: int,
    *,
    networks: int,
    email: Callable[[int], str],
    text: Callable[[], str],
    when: list[datetime],
) -> None:
    blocks = [rng.randrange(0x1000, 0xFFFF) for _ in range(networks)]
    for i, at in zip(range(count), when, strict=False):
        host = f"2001:db8:{blocks[i % networks]:x}:{rng.randrange(0xFFFF):x}::1"
        sc.notices.append(
            (
                at,
                host,
                {
                    "target": {"kind": sc.kind, "id": sc.target},
                    "category": sc.category,
                    "explanation": text(),
                    "good_faith": True,
                    "reporter": {"name": "Person", "email": email(i)},
                },
            )
        )


def human_email(rng: random.Random) -> Callable[[int], str]:
    return lambda i: (
        f"{rng.choice(FIRST)}{rng.choice(['', str(rng.randrange(100)), '.pro'])}"
        f"{i}@{rng.choice(DOMAINS)}"
    )


def scripted_email(rng: random.Random, domain: str) -> Callable[[int], str]:
    return lambda i: f"user{rng.randrange(10**5, 10**6)}@{domain}"


def build(rng: random.Random) -> list[Scenario]:
    out: list[Scenario] = []
    n = 0

    def raid(name: str) -> Scenario:
        nonlocal n
        n += 1
        sc = Scenario(name, True, f"ch-lawful-{n}", "entity", "terrorism")
        out.append(sc)
        return sc

    for size, nets in [(300, 2), (150, 3), (100, 12)]:
        sc = raid(f"crude {size} from {nets} /24s")
        users, sc.accounts = people(
            rng, f"crude{n}", size, age=(0.02, 0.05), connections=(1, 1), networks=nets
        )
        script = [varied(rng) for _ in range(2)]
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(minutes=20), decay=False),
            lambda s=script: rng.choice(s),
        )
    for size, nets, few_texts in [
        (300, 10, True),
        (300, 10, False),
        (120, 6, True),
        (30, 1, True),
        (200, 20, False),
    ]:
        sc = raid(f"web form {size} from {nets} networks, {'few' if few_texts else 'varied'} texts")
        script = [varied(rng) for _ in range(3)]
        web_notices(
            sc,
            rng,
            size,
            networks=nets,
            email=scripted_email(rng, rng.choice(["throwaway.example", "tmpmail.example"])),
            text=(lambda s=script: rng.choice(s)) if few_texts else (lambda: varied(rng)),
            when=times(rng, size, over=timedelta(hours=1), decay=False),
        )
    # The hardest: a raid through the form whose people wrote their own addresses and
    # texts, from ten networks (what tells it from one carrier's shared address?).
    for size in [300, 100]:
        sc = raid(f"web form {size} from 10 networks, human addresses, varied texts")
        web_notices(
            sc,
            rng,
            size,
            networks=10,
            email=human_email(rng),
            text=lambda: varied(rng),
            when=times(rng, size, over=timedelta(hours=1), decay=False),
        )
    # The same answering a call: most come at once, then fewer and fewer, as people do.
    sc = raid("web form 200 from 10 networks, human addresses, varied texts, fading wave")
    web_notices(
        sc,
        rng,
        200,
        networks=10,
        email=human_email(rng),
        text=lambda: varied(rng),
        when=times(rng, 200, over=timedelta(hours=2), decay=True),
    )
    for size in [40, 60, 100, 150]:
        sc = raid(f"sleepers {size}, 10-60 days, own networks")
        users, sc.accounts = people(
            rng, f"sleep{n}", size, age=(10, 60), connections=(1, 3), networks=size
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(hours=2), decay=False),
            lambda: varied(rng),
        )
    for size in [300, 200, 150, 100]:
        sc = raid(f"slow {size} over 6 h, {size} networks")
        users, sc.accounts = people(
            rng, f"slow{n}", size, age=(0.3, 3), connections=(1, 2), networks=size
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(hours=6), decay=False),
            lambda: varied(rng),
        )
    # A ring of established-looking accounts that reports together, target after target.
    ring, ring_events = people(rng, "ring", 80, age=(200, 900), connections=(8, 20), networks=80)
    for k in range(3):
        sc = raid(f"ring of 80 established accounts, target {k + 1}")
        sc.accounts = ring_events if k == 0 else []
        platform_notices(
            sc,
            rng,
            rng.sample(ring, 60),
            times(rng, 60, over=timedelta(hours=3 + k), decay=False),
            lambda: varied(rng),
        )
    for size in [80, 120, 200]:
        sc = raid(f"sleepers {size} with one text each of 4")
        users, sc.accounts = people(
            rng, f"sleep{n}", size, age=(15, 50), connections=(1, 2), networks=size
        )
        script = [varied(rng) for _ in range(4)]
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(hours=1), decay=False),
            lambda s=script: rng.choice(s),
        )

    g = 0

    def burst(name: str, category: str = "hate_speech") -> Scenario:
        nonlocal g
        g += 1
        sc = Scenario(name, False, f"post-harm-{g}", "post", category)
        out.append(sc)
        return sc

    for size in [50, 100, 150, 300, 200, 80]:
        sc = burst(f"news event, {size} established users")
        users, sc.accounts = people(
            rng, f"news{g}", size, age=(60, 2000), connections=(3, 30), networks=size
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(hours=2), decay=True),
            lambda: genuine_text(rng),
        )
    for size in [100, 60, 150, 40, 120]:
        sc = burst(f"new community, {size} accounts 1-6 days old")
        users, sc.accounts = people(
            rng, f"newc{g}", size, age=(1, 6), connections=(5, 25), networks=size
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size, over=timedelta(hours=3), decay=True),
            lambda: genuine_text(rng),
        )
    for size in [25, 29, 20]:
        sc = burst(f"{size} people behind one carrier's shared address (CGNAT)")
        web_notices(
            sc,
            rng,
            size,
            networks=1,
            email=human_email(rng),
            text=lambda: genuine_text(rng),
            when=times(rng, size, over=timedelta(minutes=30), decay=True),
        )
    for size in [40, 100, 200, 60]:
        sc = burst(f"public outrage, {size} web-form notices")
        web_notices(
            sc,
            rng,
            size,
            networks=size,
            email=human_email(rng),
            text=lambda: genuine_text(rng),
            when=times(rng, size, over=timedelta(hours=2), decay=True),
        )
    for size in [60, 120]:
        sc = burst(f"mixed platform and web, {size}")
        users, sc.accounts = people(
            rng, f"mix{g}", size // 2, age=(30, 1500), connections=(2, 20), networks=size
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, size // 2, over=timedelta(hours=1), decay=True),
            lambda: genuine_text(rng),
        )
        web_notices(
            sc,
            rng,
            size // 2,
            networks=size // 2,
            email=human_email(rng),
            text=lambda: genuine_text(rng),
            when=times(rng, size // 2, over=timedelta(hours=1), decay=True),
        )
    # Genuine bursts that would fool a naive reading of the pace and target signals: severe
    # claims about posts the classifier misses (it sees nothing in their text), from people
    # nobody can vouch for, some at a steady pace (a post that keeps circulating).
    sc = burst("severe outrage the classifier misses, 150 web-form notices", "terrorism")
    web_notices(
        sc,
        rng,
        150,
        networks=150,
        email=human_email(rng),
        text=lambda: genuine_text(rng),
        when=times(rng, 150, over=timedelta(hours=2), decay=True),
    )
    sc = burst("severe, new community, 100 accounts 1-6 days old", "terrorism")
    users, sc.accounts = people(rng, f"newc{g}", 100, age=(1, 6), connections=(5, 25), networks=100)
    platform_notices(
        sc,
        rng,
        users,
        times(rng, 100, over=timedelta(hours=3), decay=True),
        lambda: genuine_text(rng),
    )
    sc = burst("severe, 25 people behind one carrier's shared address (CGNAT)", "terrorism")
    web_notices(
        sc,
        rng,
        25,
        networks=1,
        email=human_email(rng),
        text=lambda: genuine_text(rng),
        when=times(rng, 25, over=timedelta(minutes=30), decay=True),
    )
    sc = burst("severe, steady trickle through the web form, 100 over 6 h", "doxxing")
    web_notices(
        sc,
        rng,
        100,
        networks=100,
        email=human_email(rng),
        text=lambda: genuine_text(rng),
        when=times(rng, 100, over=timedelta(hours=6), decay=False),
    )
    sc = burst("steady trickle, 120 established users over 6 h", "doxxing")
    users, sc.accounts = people(
        rng, f"trickle{g}", 120, age=(60, 2000), connections=(3, 30), networks=120
    )
    platform_notices(
        sc,
        rng,
        users,
        times(rng, 120, over=timedelta(hours=6), decay=False),
        lambda: genuine_text(rng),
    )
    # Small genuine cases of the raids' severity: the ones a raid must not outrank.
    for i in range(20):
        sc = Scenario(f"genuine case {i}", False, f"post-terror-{i}", "post", "terrorism")
        users, sc.accounts = people(
            rng, f"gen{i}", rng.randint(2, 6), age=(90, 2000), connections=(3, 20), networks=10
        )
        platform_notices(
            sc,
            rng,
            users,
            times(rng, len(users), over=timedelta(hours=5), decay=False),
            lambda: "This post shares a video celebrating yesterday's attack.",
        )
        out.append(sc)
    return out


def world_events(scenarios: list[Scenario]) -> list[dict[str, Any]]:
    old = NOW - timedelta(days=500)
    events = [
        ev(
            "e-harm",
            "entity.published",
            old,
            entity_id="ch-harm",
            kind="channel",
            title="Vidéos du quartier",
            owner_user_id="u-harm",
            member_count=4000,
        )
    ]
    for sc in scenarios:
        if sc.kind == "entity":
            events.append(
                ev(
                    f"e-{sc.target}",
                    "entity.published",
                    old,
                    entity_id=sc.target,
                    kind="channel",
                    title=f"Association {sc.target}",
                    description="Repas, cours de langue, permanences juridiques.",
                    owner_user_id=f"u-{sc.target}",
                    member_count=3000,
                )
            )
        else:
            events.append(
                ev(
                    f"p-{sc.target}",
                    "post.published",
                    NOW - timedelta(days=1),
                    post_id=sc.target,
                    entity_id="ch-harm",
                    text="Nouvelle vidéo en ligne, regardez jusqu'au bout.",
                    language="fr",
                )
            )
        events.extend(sc.accounts)
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-raid-suite-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'raids.db'}",
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
    rng = random.Random(args.seed)
    scenarios = build(rng)
    ingest(rt, world_events(scenarios))
    drain(rt)
    with transaction(rt.engine) as session:
        token = auth.create_token(session, role=Role.PLATFORM, name="pf", actor="bench")
    with transaction(rt.engine, readonly=True) as session:
        platform = auth.authenticate(session, token=token.token)
    stream = sorted(
        ((at, i, host, body) for i, sc in enumerate(scenarios) for at, host, body in sc.notices),
        key=lambda notice: (notice[0], notice[1]),
    )

    started = time.perf_counter()
    for count, (at, _, host, body) in enumerate(stream, 1):
        with transaction(rt.engine) as session:
            intake.submit(
                session,
                keys=rt.keys,
                settings=settings,
                data=ReportCreate.model_validate(body),
                sender=intake.Sender(
                    caller=None if host else platform,
                    network=host,
                    channel="web" if host else "platform",
                ),
                now=at,
            )
        if count % 500 == 0:
            drain(rt)  # the worker files notices as they come, every few seconds
    drain(rt)
    elapsed = time.perf_counter() - started
    report(rt, scenarios, len(stream), elapsed)


def report(rt: Runtime, scenarios: list[Scenario], notices: int, elapsed: float) -> None:
    with transaction(rt.engine, readonly=True) as session:
        cases = {c.target_ref: c for c in session.execute(select(ReportCase)).scalars()}
        ranked = list(
            session.execute(
                select(ModerationItem.ref, ModerationItem.priority)
                .where(ModerationItem.pending_review.is_(True))
                .order_by(ModerationItem.priority.desc(), ModerationItem.id)
            ).all()
        )
    rank = {ref: i for i, (ref, _) in enumerate(ranked)}
    raids = [s for s in scenarios if s.raid]
    bursts = [s for s in scenarios if not s.raid and s.target.startswith("post-harm")]
    small = [s for s in scenarios if s.target.startswith("post-terror")]
    # Every genuine case a raid could be compared with: the small ones and the bursts of the
    # raids' category.
    peers = small + [s for s in bursts if s.category in {r.category for r in raids}]
    for sc in raids + bursts:
        case = cases[sc.target]
        signals = {k: v for k, v in case.raid_signals.items() if v}
        print(
            f"{'RAID ' if sc.raid else 'burst'} {'marked' if case.raid_suspected else '  --  '} "
            f"{case.raid_score:.2f} prio {case.priority:7.2f} {sc.name}: {json.dumps(signals)}"
        )
    caught = sum(cases[s.target].raid_suspected for s in raids)
    wrong = sum(cases[s.target].raid_suspected for s in bursts)
    above = sum(
        1
        for r in raids
        for g in peers
        if r.target in rank and g.target in rank and rank[r.target] < rank[g.target]
    )
    print(
        f"\n{notices} notices through the service layer in {elapsed:.1f} s (worker filing included)"
    )
    print(f"raids marked: {caught} of {len(raids)} ({100 * caught / len(raids):.0f} %)")
    print(f"genuine bursts marked: {wrong} of {len(bursts)} ({100 * wrong / len(bursts):.0f} %)")
    print(
        f"raid cases ranked above a genuine case of the same severity: {above} pairs of "
        f"{len(raids) * len(peers)}"
    )
    print(f"load average: {os.getloadavg()}")


def drain(rt: Runtime) -> None:
    worker = Worker(rt)
    while worker.tick():
        pass


if __name__ == "__main__":
    main()

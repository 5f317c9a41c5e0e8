"""A deterministic, entirely synthetic messaging platform, as ingest events.

Demos, benchmarks and tests need a platform that looks lived-in without holding anyone's data.
Every identifier comes from a range reserved for fiction or documentation where one exists:
phone numbers from the drama ranges of North America, Australia, France, the UK and Germany,
IP addresses from the documentation and benchmarking blocks, links under ``.example``.
Countries without a fictional range get random numbers that merely pass validation; those
accounts, like all the others, are flagged ``synthetic``. Numbers quoted in post text (scams,
doxxing) come from fictional blocks held back from accounts, so they never match anyone.

Template text, themes and user agents live in ``templates.json``. Nothing here touches a
database; the same size, seed and ``now`` always give the same events.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from rempart.demo.images import BANK_HASHES, PLACEHOLDER_BANK_IMAGES
from rempart.demo.phones import (
    COUNTRY_WEIGHTS,
    POST_NPAS,
    QUEBEC_NPAS,
    PhoneBook,
    digits,
)

_VIOLATING = ("drug_sales", "weapons", "scams_fraud", "piracy", "terrorism", "hate_speech")
CATEGORIES = ("none", *_VIOLATING, "doxxing", "spam", "benign_lookalike")


@dataclass(frozen=True)
class DemoSize:
    accounts: int = 5000
    connections: int = 100_000
    entities: int = 300
    posts: int = 20_000


_DAY = 86_400
_WINDOW = 456 * _DAY  # 15 months of activity, so retention rules have something to expire

_FRENCH_COUNTRIES = ("FR", "BE")
_HARMLESS = ("none", "benign_lookalike")
_KIND_AUDIENCE = {"channel": 40, "group": 15, "bot": 25}

# Shared documentation blocks stand in for carrier NAT and public Wi-Fi, so some accounts
# legitimately share an address, as they do on real platforms.
_V4_NAT = (int(IPv4Address("192.0.2.0")), int(IPv4Address("198.51.100.0")))
_V4_MOBILE = int(IPv4Address("203.0.113.0"))
_V4_HOME = int(IPv4Address("198.18.0.0"))  # 198.18.0.0/15: 131 072 addresses
_V6_DOC = int(IPv6Address("2001:db8::"))


# --- helpers ------------------------------------------------------------------------------


@cache
def _templates() -> dict[str, Any]:
    text = resources.files("rempart.demo").joinpath("templates.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _benign(theme: str) -> bool:
    return bool(_templates()["themes"][theme]["benign"])


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_")


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _ev(event_id: str, event_type: str, ts: int, /, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "occurred_at": _iso(ts), **fields}


def _skewed(rng: random.Random, lo: int, hi: int, power: float) -> int:
    """A time in [lo, hi]; power > 1 leans towards hi (recent), power < 1 towards lo."""
    return lo + int((hi - lo) * rng.random() ** (1.0 / power))


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class _Writer:
    """Fills ``{slot}`` templates; ``name2`` picks a value of ``name`` other than the first."""

    _SLOT = re.compile(r"\{(\w+)\}")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = _templates()
        stems = {lang: [_ascii(w) for w in ws] for lang, ws in self.t["username_words"].items()}
        self._generated: dict[str, Callable[[str], str]] = {
            "n": lambda lang: str(rng.randint(10, 999)),
            "phone": self.post_phone,
            "address": self.address,
            "handle": lambda lang: f"@{rng.choice(stems[lang])}{rng.randint(1, 999)}",
            "url": lambda lang: (
                f"https://{rng.choice(stems[lang])}-{rng.randint(1, 99)}"
                f".example/{rng.getrandbits(32):08x}"
            ),
            "wallet": lambda lang: f"0x{rng.getrandbits(160):040x}",
        }

    def post_phone(self, lang: str) -> str:
        """A number from the blocks held back from accounts, written as people write them."""
        roll, rng = self.rng.random(), self.rng
        if lang == "fr" and roll < 0.6:
            d = digits(rng, 4)
            return f"+33 5 36 49 {d[:2]} {d[2:]}"
        if roll < 0.8:
            return f"+1 ({rng.choice(POST_NPAS)}) 555-01{digits(rng, 2)}"
        return f"+61 491 570 {rng.randint(800, 999)}"

    def address(self, lang: str) -> str:
        slots = self.t["slots"][lang]
        street, town = self.rng.choice(slots["street"]), self.rng.choice(slots["town"])
        return f"{self.rng.randint(1, 180)} {street}, {town}"

    def render(self, template: str, lang: str, chosen: dict[str, str] | None = None) -> str:
        picked: dict[str, str] = {} if chosen is None else chosen
        slots: dict[str, list[str]] = self.t["slots"][lang]

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in picked:
                return picked[name]
            base = name[:-1] if name.endswith("2") and name[:-1] in slots else name
            if base in slots:
                options = [v for v in slots[base] if v != picked.get(base)] or slots[base]
                value = self.rng.choice(options)
            else:
                value = self._generated[base](lang)
            picked[name] = value
            return value

        text = self._SLOT.sub(fill, template)
        return text[:1].upper() + text[1:]


# --- the plan: who, where and when, without the text ---------------------------------------


@dataclass
class _Account:
    registered: int
    user_id: str
    username: str = ""
    phone: str | None = None
    lang: str = "en"
    country: str | None = None
    ips: tuple[str, ...] = ()
    ip_weights: tuple[float, ...] = ()
    mobile_agent: str = ""
    desktop_agent: str | None = None
    update: tuple[int, str, str | None] | None = None


@dataclass
class _Entity:
    published: int
    theme: str
    kind: str
    owner: str
    lang: str = "en"
    members: int = 0
    activity: float = 0.0
    username: str = ""
    title: str = ""
    description: str = ""
    entity_id: str = ""
    deleted: int | None = None
    update: tuple[int, str, int] | None = None


@dataclass
class _Post:
    ts: int
    entity: int
    category: str
    lang: str
    tagged: bool
    media: int = -1  # -1 none, -2 random hashes, n >= 0 placeholder image n
    post_id: str = ""


@dataclass
class _World:
    now: int
    accounts: list[_Account]
    entities: list[_Entity]
    posts: list[_Post]
    edits: dict[int, int]
    deletes: dict[int, int]
    text_seed: int
    connection_seed: int


def _counts(size: DemoSize) -> tuple[int, int, int, int, int]:
    """Account updates, entity updates, entity deletions, post edits, post deletions: fixed
    shares, so the event count is known before generating anything."""
    e, p = size.entities, size.posts
    return size.accounts // 20, e // 20, e // 50, p // 25, p // 50


def _check(size: DemoSize, now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if min(size.accounts, size.connections, size.entities, size.posts) < 0:
        raise ValueError("sizes must not be negative")
    if size.accounts == 0 and (size.connections or size.entities):
        raise ValueError("connections and entities need at least one account")
    if size.entities == 0 and size.posts:
        raise ValueError("posts need at least one entity")
    return int(now.timestamp())


def _username(rng: random.Random, lang: str, taken: set[str]) -> str:
    t = _templates()
    first = _ascii(rng.choice(t["first_names"][lang]))
    word = _ascii(rng.choice(t["username_words"][lang]))
    shapes = (
        f"{first}{rng.randint(1, 99)}",
        f"{first}_{word}",
        f"{first}.{word}{rng.randint(1, 999)}",
        f"{word}_{first}{rng.randint(70, 109) % 100:02d}",
        f"{first.title()}{word.title()}",
        f"{first}{chr(97 + rng.randrange(26))}_{rng.randint(1, 99)}",
    )
    name = shapes[rng.randrange(len(shapes))]
    while name.lower() in taken:
        name = f"{name}{rng.randint(0, 9)}"
    taken.add(name.lower())
    return name


def _plan_accounts(rng: random.Random, size: DemoSize, now: int, taken: set[str]) -> list[_Account]:
    start = now - _WINDOW
    times = sorted(
        rng.randint(now - 4 * 365 * _DAY, start)
        if rng.random() < 0.45
        else _skewed(rng, start, now - _DAY, 1.3)
        for _ in range(size.accounts)
    )
    agents: dict[str, list[str]] = _templates()["user_agents"]
    book, countries = PhoneBook(rng), list(COUNTRY_WEIGHTS)
    country_cum = _cumulative(list(COUNTRY_WEIGHTS.values()))
    accounts: list[_Account] = []
    for index, registered in enumerate(times):
        account = _Account(registered, f"demo-u{index:06d}")
        if rng.random() < 0.9:
            country = rng.choices(countries, cum_weights=country_cum)[0]
            account.country, account.phone = book.draw(country)
            quebec = account.country == "CA" and account.phone[2:5] in QUEBEC_NPAS
            account.lang = "fr" if account.country in _FRENCH_COUNTRIES or quebec else "en"
        else:
            account.lang = rng.choice(("fr", "en"))
        account.username = _username(rng, account.lang, taken)
        account.ips, account.ip_weights = _addresses(rng)
        account.mobile_agent = rng.choice(agents["mobile"])
        if rng.random() < 0.4:
            account.desktop_agent = rng.choice(agents["desktop"])
        accounts.append(account)
    for index in sorted(rng.sample(range(size.accounts), _counts(size)[0])):
        account = accounts[index]
        when = _skewed(rng, min(account.registered + _DAY, now - 3600), now - 60, 1.0)
        roll = rng.random()
        # Half change only the username, a fifth both, the rest only the number.
        username = _username(rng, account.lang, taken) if roll < 0.7 else account.username
        phone = account.phone
        if roll >= 0.5 or phone is None:
            phone = book.draw(account.country or rng.choice(countries))[1]
        account.update = (when, username, phone)
    return accounts


def _addresses(rng: random.Random) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Home, mobile and sometimes a shared Wi-Fi: people reuse a handful of addresses."""
    if rng.random() < 0.8:
        home = str(IPv4Address(_V4_HOME + rng.randrange(1, 131_071)))
    else:
        home = str(IPv4Address(rng.choice(_V4_NAT) + rng.randint(1, 254)))
    if rng.random() < 0.5:
        mobile = str(IPv6Address(_V6_DOC + rng.getrandbits(96)))
    else:
        mobile = str(IPv4Address(_V4_MOBILE + rng.randint(1, 254)))
    ips, weights = [home, mobile], [0.55, 0.35]
    if rng.random() < 0.3:
        ips.append(str(IPv4Address(_V4_NAT[0] + rng.randint(1, 254))))
        weights.append(0.10)
    if rng.random() < 0.1:  # dual-stack home
        ips.append(str(IPv6Address(_V6_DOC + rng.getrandbits(96))))
        weights[0] /= 2
        weights.append(weights[0])
    return tuple(ips), tuple(_cumulative(weights))


def _theme_list(rng: random.Random, n: int) -> list[str]:
    """One entity of each theme when there is room, so even a small demo shows every category;
    the rest drawn by weight."""
    weights = {theme: float(spec["weight"]) for theme, spec in _templates()["themes"].items()}
    themes = list(weights) if n >= len(weights) else []
    themes += rng.choices(list(weights), weights=list(weights.values()), k=n - len(themes))
    rng.shuffle(themes)
    return themes


def _plan_entities(
    rng: random.Random,
    writer: _Writer,
    size: DemoSize,
    now: int,
    accounts: list[_Account],
    taken: set[str],
) -> list[_Entity]:
    registered = [a.registered for a in accounts]
    entities: list[_Entity] = []
    for theme in _theme_list(rng, size.entities):
        kinds: dict[str, float] = writer.t["themes"][theme]["kinds"]
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        published = _skewed(rng, now - 540 * _DAY, now - 2 * _DAY, 0.67)
        eligible = bisect.bisect_left(registered, published - 3600)
        owner = rng.randrange(eligible) if eligible else 0
        published = max(published, min(registered[owner] + 3600, now - 120))
        entity = _Entity(published, theme, kind, accounts[owner].user_id)
        entity.members = min(5_000_000, int(_KIND_AUDIENCE[kind] * rng.paretovariate(0.7)))
        entity.activity = entity.members**0.3 * rng.lognormvariate(0, 0.6)
        entities.append(entity)
    # Heaviest first, each to the language lighter so far in its theme: French and English
    # then carry a similar share of every kind of post despite the long tail.
    load = dict.fromkeys(((e.theme, lang) for e in entities for lang in ("fr", "en")), 0.0)
    for entity in sorted(entities, key=lambda e: -e.activity):
        entity.lang = min(("fr", "en"), key=lambda lang: load[entity.theme, lang])
        load[entity.theme, entity.lang] += entity.activity
    for entity in entities:
        lang = entity.lang
        spec, chosen = writer.t["entities"][lang][entity.theme], dict[str, str]()
        entity.title = writer.render(rng.choice(spec["titles"]), lang, chosen)[:256]
        entity.description = writer.render(rng.choice(spec["descriptions"]), lang, chosen)
        place = _ascii(chosen.get("city", chosen.get("team", "")))
        username = f"{_ascii(rng.choice(spec['stems']))}_{place or rng.randint(1, 99)}"[:60]
        while username.lower() in taken:
            username = f"{username}{rng.randint(0, 9)}"
        taken.add(username.lower())
        entity.username = username
    entities.sort(key=lambda e: e.published)
    for index, entity in enumerate(entities):
        entity.entity_id = f"demo-e{index:05d}"
    _, updates, deletions, _, _ = _counts(size)
    # Moderation mostly catches violating entities; a benign one is deleted now and then too.
    good = [i for i, e in enumerate(entities) if _benign(e.theme)]
    bad = [i for i, e in enumerate(entities) if not _benign(e.theme)]
    for index in _prefer(rng, bad, good, deletions, 0.8):
        entity = entities[index]
        entity.deleted = _skewed(rng, max(entity.published + _DAY, now - 60 * _DAY), now - 3600, 1)
        if entity.deleted <= entity.published:
            entity.deleted = entity.published + (now - entity.published) // 2
    for index in sorted(rng.sample(range(len(entities)), updates)):
        entity = entities[index]
        end = entity.deleted or now
        when = entity.published + int((end - entity.published) * rng.uniform(0.2, 0.95))
        spec = writer.t["entities"][entity.lang][entity.theme]
        description = writer.render(rng.choice(spec["descriptions"]), entity.lang)
        entity.update = (when, description, int(entity.members * rng.uniform(1.05, 1.6)))
    return entities


def _prefer(
    rng: random.Random, preferred: list[int], others: list[int], k: int, share: float
) -> list[int]:
    from_preferred = min(len(preferred), max(k - len(others), round(k * share)))
    return sorted(rng.sample(preferred, from_preferred) + rng.sample(others, k - from_preferred))


def _plan_posts(
    rng: random.Random, size: DemoSize, now: int, entities: list[_Entity]
) -> tuple[list[_Post], dict[int, int], dict[int, int]]:
    if not size.posts:
        return [], {}, {}
    activity = _cumulative([e.activity for e in entities])
    mixes = {
        theme: (list(spec["mix"]), _cumulative(list(spec["mix"].values())))
        for theme, spec in _templates()["themes"].items()
    }
    posts: list[_Post] = []
    for index in rng.choices(range(len(entities)), cum_weights=activity, k=size.posts):
        entity = entities[index]
        categories, cum = mixes[entity.theme]
        lo = max(entity.published + 60, now - _WINDOW)
        hi = max(lo + 1, (entity.deleted or now) - 60)
        lang = entity.lang if rng.random() < 0.9 else ("en" if entity.lang == "fr" else "fr")
        category = rng.choices(categories, cum_weights=cum)[0]
        posts.append(_Post(_skewed(rng, lo, hi, 1.4), index, category, lang, rng.random() < 0.85))
    posts.sort(key=lambda p: p.ts)
    for index, post in enumerate(posts):
        post.post_id = f"demo-p{index:07d}"
    benign = [
        i for i, p in enumerate(posts) if p.category == "none" and _benign(entities[p.entity].theme)
    ]
    bank = rng.sample(benign, min(30, (size.posts + 9) // 10, len(benign)))
    for n, index in enumerate(bank):
        posts[index].media = n % len(PLACEHOLDER_BANK_IMAGES)
    for post in posts:
        if post.media == -1 and rng.random() < 0.05:
            post.media = -2
    _, _, _, n_edits, n_deletes = _counts(size)
    edits = {
        i: _after(rng, posts[i], entities, now, 120, 2 * _DAY)
        for i in sorted(rng.sample(range(len(posts)), n_edits))
    }
    # Bank posts stay up so the demo hash bank always has something to match.
    free = [i for i in range(len(posts)) if i not in edits and i not in bank]
    violating = [i for i in free if posts[i].category not in _HARMLESS]
    harmless = [i for i in free if posts[i].category in _HARMLESS]
    deletes = {
        i: _after(rng, posts[i], entities, now, 600, 10 * _DAY)
        for i in _prefer(rng, violating, harmless, n_deletes, 0.6)
    }
    return posts, edits, deletes


def _after(
    rng: random.Random, post: _Post, entities: list[_Entity], now: int, lo: int, hi: int
) -> int:
    """A moment after the post but before its entity is deleted and before now."""
    end = (entities[post.entity].deleted or now) - 1
    when = post.ts + rng.randint(lo, hi)
    return when if when < end else post.ts + max(0, (end - post.ts) // 2)


def _plan(size: DemoSize, now: datetime, seed: int) -> _World:
    now_ts = _check(size, now)
    master = random.Random(seed)
    # One stream per stage, so labelled_posts can skip connections and text yet agree.
    seeds = [master.getrandbits(64) for _ in range(6)]
    taken: set[str] = set()  # usernames of accounts and entities share one namespace
    accounts = _plan_accounts(random.Random(seeds[0]), size, now_ts, taken)
    writer = _Writer(random.Random(seeds[1]))
    entities = _plan_entities(random.Random(seeds[2]), writer, size, now_ts, accounts, taken)
    posts, edits, deletes = _plan_posts(random.Random(seeds[3]), size, now_ts, entities)
    return _World(now_ts, accounts, entities, posts, edits, deletes, seeds[4], seeds[5])


# --- rendering ----------------------------------------------------------------------------

_ACCOUNT_UPDATE, _ENTITY_UPDATE, _CONNECTION, _PUBLISH, _EDIT, _DELETE, _ENTITY_DELETE = range(7)


def _timeline(world: _World, connections: int) -> list[tuple[int, int, int]]:
    """(time, kind, index) for everything after registrations and entity creations; kind
    breaks ties so an edit never precedes its post and a deletion comes last."""
    rng = random.Random(world.connection_seed)
    items = [(a.update[0], _ACCOUNT_UPDATE, i) for i, a in enumerate(world.accounts) if a.update]
    for i, entity in enumerate(world.entities):
        if entity.update:
            items.append((entity.update[0], _ENTITY_UPDATE, i))
        if entity.deleted is not None:
            items.append((entity.deleted, _ENTITY_DELETE, i))
    items += [(p.ts, _PUBLISH, i) for i, p in enumerate(world.posts)]
    items += [(ts, _EDIT, i) for i, ts in world.edits.items()]
    items += [(ts, _DELETE, i) for i, ts in world.deletes.items()]
    if connections:
        accounts, start = world.accounts, world.now - _WINDOW
        activity = _cumulative([rng.paretovariate(1.3) for _ in accounts])
        for i in rng.choices(range(len(accounts)), cum_weights=activity, k=connections):
            lo = min(max(accounts[i].registered + 60, start), world.now - 60)
            items.append((_skewed(rng, lo, world.now - 1, 1.6), _CONNECTION, i))
    items.sort()
    return items


def _media(rng: random.Random, post: _Post) -> list[dict[str, Any]]:
    if post.media >= 0:
        sha256, md5 = BANK_HASHES[post.media]
        return [{"sha256": sha256, "md5": md5}]
    items = []
    for _ in range(1 if rng.random() < 0.8 else 2):  # now and then an album of two
        sha256, md5, pdq = (f"{rng.getrandbits(4 * n):0{n}x}" for n in (64, 32, 64))
        quality = rng.randint(70, 100)
        items.append({"sha256": sha256, "md5": md5, "pdq": pdq, "pdq_quality": quality})
    return items


def _account_event(event_id: str, kind: str, ts: int, account: _Account) -> dict[str, Any]:
    # Account events carry the full state, so an absent phone means "has none".
    username, phone = account.username, account.phone
    if kind == "account.updated" and account.update:
        _, username, phone = account.update
    event = _ev(event_id, kind, ts, user_id=account.user_id, username=username, synthetic=True)
    if phone is not None:
        event["phone_number"] = phone
    return event


def _entity_event(event_id: str, kind: str, ts: int, e: _Entity, desc: str, members: int) -> Any:
    return _ev(event_id, kind, ts, entity_id=e.entity_id, kind=e.kind, visibility="public",
               username=e.username, title=e.title, description=desc, owner_user_id=e.owner,
               member_count=members)  # fmt: skip


def demo_events(*, size: DemoSize, now: datetime, seed: int = 2024) -> Iterator[dict[str, Any]]:
    """Yields every event of the demo platform in an order ingest can take: registrations,
    then entity creations, then everything else in time order."""
    world = _plan(size, now, seed)
    writer = _Writer(random.Random(world.text_seed))
    rng, t = writer.rng, writer.t
    for i, a in enumerate(world.accounts):
        yield _account_event(f"demo:acct:{i:06d}", "account.registered", a.registered, a)
    for i, e in enumerate(world.entities):
        yield _entity_event(f"demo:ent:{i:05d}", "entity.published", e.published, e,
                            e.description, e.members)  # fmt: skip
    published: dict[int, dict[str, Any]] = {}
    sequence = 0
    for ts, kind, i in _timeline(world, size.connections):
        if kind == _CONNECTION:
            sequence += 1
            a = world.accounts[i]
            slot = rng.choices(range(len(a.ips)), cum_weights=a.ip_weights)[0]
            agent = a.mobile_agent
            if slot != 1 and a.desktop_agent and rng.random() < 0.6:
                agent = a.desktop_agent
            yield _ev(f"demo:conn:{sequence:07d}", "connection.seen", ts, user_id=a.user_id,
                      ip=a.ips[slot], port=rng.randint(1024, 65535), user_agent=agent)  # fmt: skip
        elif kind == _PUBLISH:
            post = world.posts[i]
            entity = world.entities[post.entity]
            lines = t["posts"][post.lang]
            # Harmless categories read like the entity's theme; the others like themselves.
            key = t["themes"][entity.theme]["templates"].get(post.category, post.category)
            template = rng.choice(lines[key])
            text = writer.render(template, post.lang)
            if post.category in _HARMLESS:  # people rarely write the same sentence twice
                if rng.random() < 0.3:
                    text = f"{rng.choice(t['openers'][post.lang])} {text}"
                if rng.random() < 0.4:
                    text += " " + rng.choice(t["tails"][post.lang])
            event = _ev(f"demo:post:{i:07d}", "post.published", ts, post_id=post.post_id,
                        entity_id=entity.entity_id, visibility="public", text=text)  # fmt: skip
            if post.tagged:
                event["language"] = post.lang
            if post.media != -1:
                event["media"] = _media(rng, post)
            if i in world.edits:
                published[i] = event
            yield event
        elif kind == _EDIT:
            original = published.pop(i)
            suffix = rng.choice(t["edit_suffix"][world.posts[i].lang])
            edited = _ev(f"demo:post-edit:{i:07d}", "post.edited", ts)
            yield {**original, **edited, "text": f"{original['text']}\n\n{suffix}"}
        elif kind == _DELETE:
            yield _ev(f"demo:post-del:{i:07d}", "post.deleted", ts, post_id=world.posts[i].post_id)
        elif kind == _ACCOUNT_UPDATE:
            yield _account_event(f"demo:acct-upd:{i:06d}", "account.updated", ts, world.accounts[i])
        elif kind == _ENTITY_UPDATE:
            e = world.entities[i]
            assert e.update is not None
            _, desc, members = e.update
            yield _entity_event(f"demo:ent-upd:{i:05d}", "entity.updated", ts, e, desc, members)
        else:
            entity_id = world.entities[i].entity_id
            yield _ev(f"demo:ent-del:{i:05d}", "entity.deleted", ts, entity_id=entity_id)


def count_demo_events(size: DemoSize) -> int:
    """Exactly how many events ``demo_events`` yields for this size, for progress bars."""
    return size.accounts + size.entities + size.posts + size.connections + sum(_counts(size))


def labelled_posts(*, size: DemoSize, now: datetime, seed: int = 2024) -> Iterator[tuple[str, str]]:
    """(post_id, intended category) for every post ``demo_events`` publishes with the same
    arguments; categories are in ``CATEGORIES``. Labels stay out of the events because the
    ingest schema is closed."""
    for post in _plan(size, now, seed).posts:
        yield post.post_id, post.category

"""The reporting bot's side of a conversation, like Telegram's @SearchReport: a platform
forwards what its user writes to its bot, and sends back the reply. The user gives a link
and a reason, in any order and over several messages, in French or English; the bot asks
for what is missing, then files the notice on the user's behalf."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.errors import RateLimited
from rempart.core.settings import Settings
from rempart.core.text import fold
from rempart.reports import intake
from rempart.reports.exceptions import ReporterSuspended, TargetNotFound
from rempart.reports.models import BotConversation
from rempart.reports.schemas import BotMessage, BotReply, ReportCreate, Target
from rempart.reports.targets import find_links, resolve

FORGET_AFTER = timedelta(minutes=30)
MIN_EXPLANATION = 10


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    data = resources.files("rempart.reports").joinpath("data/bot.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def language_of(text: str) -> str:
    words = set(re.findall(r"[a-z']+", fold(text)))
    return "fr" if len(words & set(vocabulary()["french_markers"])) >= 1 else "en"


def category_of(text: str) -> str | None:
    folded = fold(text)
    for category, entry in vocabulary()["categories"].items():
        if any(re.search(rf"\b{re.escape(k)}", folded) for k in entry["keywords"]):
            return str(category)
    return None


def _say(key: str, language: str, **values: str) -> str:
    return str(vocabulary()["replies"][key][language]).format(**values)


def _label(category: str, language: str) -> str:
    return str(vocabulary()["categories"][category]["label"][language])


def converse(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    caller: Caller,
    message: BotMessage,
    now: datetime,
) -> BotReply:
    key = keys.blind_index(f"{caller.principal_id}:{message.platform_user_id}", purpose="bot")
    talk = session.get(BotConversation, key)
    if talk is not None and now - as_utc(talk.updated_at) > FORGET_AFTER:
        session.delete(talk)
        session.flush()
        talk = None
    language = message.language or (talk.language if talk else language_of(message.text))
    base = settings.public_link_base

    def reply(state: str, text: str, tracking_id: str | None = None) -> BotReply:
        return BotReply(reply=text, language=language, state=state, tracking_id=tracking_id)

    if set(re.findall(r"[a-z]+", fold(message.text))) & set(vocabulary()["cancel"]):
        if talk is not None:
            session.delete(talk)
        return reply("cancelled", _say("cancelled", language))
    if talk is None:
        talk = BotConversation(key=key, language=language, updated_at=now)
        session.add(talk)
    talk.language, talk.updated_at = language, now

    links = find_links(message.text, base)
    words = " ".join(w for w in message.text.split() if w.strip(".,;:!?()<>\"'") not in links)
    if links:
        try:
            target = resolve(session, target=Target(url=links[0]), link_base=base)
        except TargetNotFound:
            return reply("asking_for_link", _say("unknown_link", language))
        talk.target_kind, talk.target_ref = target.kind, target.ref
    talk.category = category_of(words) or talk.category
    if words.strip():
        talk.explanation = " ".join(filter(None, [talk.explanation, words.strip()]))[:4000]

    if talk.target_ref is None:
        greeting = not (talk.category or talk.explanation)
        return reply(
            "asking_for_link", _say("greeting" if greeting else "ask_link", language, base=base)
        )
    if talk.category is None:
        labels = ", ".join(_label(c, language) for c in list(vocabulary()["categories"])[:6])
        target_name = f"{base}/{talk.target_ref}"
        return reply(
            "asking_for_reason", _say("ask_reason", language, target=target_name, labels=labels)
        )
    if len((talk.explanation or "").strip()) < MIN_EXPLANATION:
        return reply(
            "asking_for_reason",
            _say("ask_explanation", language, label=_label(talk.category, language)),
        )
    data = ReportCreate(
        target=Target(kind=talk.target_kind, id=talk.target_ref),
        category=talk.category,
        explanation=talk.explanation or "",
        platform_user_id=message.platform_user_id,
        good_faith=True,
    )
    try:
        report = intake.submit(
            session,
            keys=keys,
            settings=settings,
            data=data,
            sender=intake.Sender(caller=caller, network=None, channel="bot"),
            now=now,
        )
    except ReporterSuspended as exc:
        session.delete(talk)
        until = str(exc.details.get("until", ""))[:10]
        return reply("refused", _say("suspended", language, until=until))
    except RateLimited:
        return reply("refused", _say("slow_down", language))
    session.delete(talk)
    return reply(
        "reported",
        _say(
            "reported",
            language,
            label=_label(talk.category, language),
            tracking=report.tracking_id,
        ),
        report.tracking_id,
    )

"""The notification DSA Art. 18 asks for: to whom, and with what.

Art. 18(1): the authority of the Member State concerned, with "all relevant information
available". Art. 18(2): where the Member State cannot be identified with reasonable
certainty, the authorities of the Member State of establishment or Europol, or both
(``recipient``). What is
relevant: the content and when it was published, the moderator's account of the threat,
and what the platform holds of the account that published it (identifiers, phone number,
recent connections). Rempart holds no private-message content, and the notification is
built from the public records only (posts of public entities, the entity itself), so none
can slip in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.core.countries import EU_MEMBER_STATES
from rempart.core.crypto import KeyRing
from rempart.core.settings import Settings
from rempart.legal.models import Authority
from rempart.legal.schemas import AuthorityKind, AuthorityStatus
from rempart.moderation.models import ModerationItem
from rempart.platform.models import Account, Connection, Entity, Post, PostMedia

EUROPOL = "europol"
# Connections of the account that are relevant: the recent ones, which locate the person
# now. A longer history is for a lawful order to ask for.
RECENT_CONNECTIONS = timedelta(days=30)
MAX_CONNECTIONS = 20
# Law enforcement first: it is the one that can act on a threat at once.
KIND_PREFERENCE = [
    AuthorityKind.POLICE,
    AuthorityKind.PROSECUTOR,
    AuthorityKind.INVESTIGATING_JUDGE,
    AuthorityKind.COURT,
]


@dataclass(frozen=True)
class Recipient:
    member_state: str | None
    basis: str
    recipient: str
    name: str
    # Who else receives the same notification: Europol beside the law enforcement of the
    # Member State of establishment (Art. 18(2), "or both").
    copies: tuple[tuple[str, str], ...] = ()


EUROPOL_NAME = "Europol (EU IRU / European Cybercrime Centre)"


def member_state(victim_country: str | None, account: Account | None) -> tuple[str | None, str]:
    if victim_country in EU_MEMBER_STATES:
        return victim_country, "victim_location"
    if account is not None and account.phone_country in EU_MEMBER_STATES:
        return account.phone_country, "account_country"
    return None, "undetermined"


def recipient(
    session: Session,
    *,
    victim_country: str | None,
    account: Account | None,
    establishment: str | None = None,
) -> Recipient:
    """Art. 18(1): the Member State concerned. Art. 18(2): where it cannot be identified
    with reasonable certainty, the law enforcement of the Member State where the provider
    is established (or has its legal representative) or Europol, or both. Rempart informs
    both when the establishment is known: the national police can act at once, Europol
    can reach the Member State the threat turns out to concern. The Member State
    concerned stays unknown (``member_state`` None); the basis says why these recipients."""
    state, basis = member_state(victim_country, account)
    if state is None:
        if establishment in EU_MEMBER_STATES:
            to, name = _law_enforcement(session, establishment)
            return Recipient(None, "establishment", to, name, copies=((EUROPOL, EUROPOL_NAME),))
        return Recipient(None, basis, EUROPOL, EUROPOL_NAME)
    to, name = _law_enforcement(session, state)
    return Recipient(state, basis, to, name)


def _law_enforcement(session: Session, state: str) -> tuple[str, str]:
    authorities = list(
        session.execute(
            select(Authority).where(
                Authority.country == state, Authority.status == AuthorityStatus.VERIFIED.value
            )
        ).scalars()
    )
    rank = {kind.value: i for i, kind in enumerate(KIND_PREFERENCE)}
    authorities.sort(key=lambda a: (rank.get(a.kind, len(rank)), a.id))
    if authorities:
        chosen = authorities[0]
        return f"authority:{chosen.code}", chosen.name
    # None registered: the national law-enforcement point of contact, reached by the
    # platform's liaison through the authority outbox.
    return f"national:{state}", f"Law enforcement of {state}"


def account_of(session: Session, *, item: ModerationItem) -> Account | None:
    if not item.owner_user_id:
        return None
    return session.execute(
        select(Account).where(Account.user_id == item.owner_user_id)
    ).scalar_one_or_none()


def _content(session: Session, item: ModerationItem, settings: Settings) -> dict[str, Any]:
    base = settings.public_link_base.rstrip("/")
    entity = session.execute(
        select(Entity).where(Entity.entity_id == item.entity_id)
    ).scalar_one_or_none()
    facts: dict[str, Any] = {
        "kind": item.kind,
        "id": item.ref,
        "entity": {
            "id": item.entity_id,
            "kind": entity.kind if entity else None,
            "username": entity.username if entity else None,
            "title": entity.title if entity else None,
            "public": True,
        },
    }
    name = (entity.username if entity else None) or item.entity_id
    if item.kind == "post":
        post = session.execute(select(Post).where(Post.post_id == item.ref)).scalar_one_or_none()
        facts["link"] = f"{base}/{name}/{item.ref}"
        if post is not None:
            facts["text"] = post.text
            facts["language"] = post.language
            facts["published_at"] = as_utc(post.published_at).isoformat()
            facts["edited_at"] = as_utc(post.edited_at).isoformat() if post.edited_at else None
            facts["media_sha256"] = [
                m
                for m in session.execute(
                    select(PostMedia.sha256)
                    .where(PostMedia.post_id == post.post_id)
                    .order_by(PostMedia.position)
                ).scalars()
                if m
            ]
    else:
        facts["link"] = f"{base}/{name}"
        if entity is not None:
            facts["description"] = entity.description
            facts["published_at"] = as_utc(entity.published_at).isoformat()
    return facts


def _account(
    session: Session, keys: KeyRing, account: Account | None, user_id: str | None, now: datetime
) -> dict[str, Any] | None:
    if user_id is None:
        return None
    held: dict[str, Any] = {"user_id": user_id}
    if account is not None:
        held["username"] = account.username
        held["registered_at"] = as_utc(account.registered_at).isoformat()
        held["phone_country"] = account.phone_country
        held["phone_number"] = (
            keys.decrypt(account.phone_ciphertext, purpose="phone")
            if account.phone_ciphertext
            else None
        )
    connections = session.execute(
        select(Connection.ip_ciphertext, Connection.port, Connection.seen_at)
        .where(Connection.user_id == user_id, Connection.seen_at >= now - RECENT_CONNECTIONS)
        .order_by(Connection.seen_at.desc())
        .limit(MAX_CONNECTIONS)
    ).all()
    held["recent_connections"] = [
        {
            "ip": keys.decrypt(blob, purpose="ip"),
            "port": port,
            "seen_at": as_utc(seen).isoformat(),
        }
        for blob, port, seen in connections
    ]
    return held


def build(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    reference: str,
    item: ModerationItem,
    to: Recipient,
    explanation: str,
    victim_country: str | None,
    now: datetime,
) -> dict[str, Any]:
    account = account_of(session, item=item)
    return {
        "legal_basis": "Regulation (EU) 2022/2065 (Digital Services Act), Article 18",
        "reference": reference,
        "provider": settings.public_link_base,
        "recipient": {"id": to.recipient, "name": to.name},
        "copies": [{"id": code, "name": name} for code, name in to.copies],
        "member_state": to.member_state,
        "member_state_basis": to.basis,
        "suspicion": {
            "offence": "criminal offence involving a threat to the life or safety of persons",
            "moderator_account": explanation,
            "victim_country": victim_country,
        },
        "content": _content(session, item, settings),
        "account": _account(session, keys, account, item.owner_user_id, now),
        "prepared_at": now.isoformat(),
    }

"""What a notice is about: a public post or entity, named by id or by its public link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.platform.models import Entity, Post
from rempart.reports.exceptions import InvalidLink, TargetNotFound
from rempart.reports.schemas import Target


@dataclass(frozen=True)
class ResolvedTarget:
    kind: str
    ref: str
    entity_id: str


def parse_link(url: str, base: str) -> tuple[str, str | None]:
    """(entity, post or None) from ``{base}/{entity}[/{post}]``."""
    home = urlsplit(base)
    try:
        link = urlsplit(url.strip())
        port = link.port  # raises on a port out of range
    except ValueError:  # a stray "[" or a port such as 99999
        raise InvalidLink(f"This is not a valid link; links start with {base}/.") from None
    if (
        link.scheme not in ("http", "https")
        or (link.hostname or "") != (home.hostname or "")
        or port not in (None, home.port)
    ):
        raise InvalidLink(f"Links to public channels and posts start with {base}/.")
    parts = [p for p in link.path[len(home.path.rstrip("/")) :].split("/") if p]
    if not 1 <= len(parts) <= 2:
        raise InvalidLink(f"Expected {base}/<channel> or {base}/<channel>/<post>.")
    return parts[0], parts[1] if len(parts) == 2 else None


def find_links(text: str, base: str) -> list[str]:
    host = urlsplit(base).hostname or ""
    return [
        word for word in (w.strip(".,;:!?()<>\"'") for w in text.split()) if _host(word) == host
    ]


def _host(word: str) -> str:
    try:
        return urlsplit(word).hostname or ""
    except ValueError:  # "https://[t.example/x": not a link we know
        return ""


def _entity_id(session: Session, name: str) -> str | None:
    """A live entity named by id or by username (columns only: this is on intake's path)."""
    for condition in (
        Entity.entity_id == name,
        func.lower(Entity.username) == name.lower().lstrip("@"),
    ):
        row = session.execute(
            select(Entity.entity_id, Entity.deleted_at).where(condition).limit(1)
        ).first()
        if row is not None:
            return str(row.entity_id) if row.deleted_at is None else None
    return None


def _post(session: Session, ref: str, entity_id: str | None) -> ResolvedTarget:
    row = session.execute(
        select(Post.post_id, Post.entity_id)
        .join(Entity, Entity.entity_id == Post.entity_id)
        .where(Post.post_id == ref, Post.deleted_at.is_(None), Entity.deleted_at.is_(None))
    ).first()
    if row is None or (entity_id is not None and row.entity_id != entity_id):
        raise TargetNotFound("No public post has this id or link.")
    return ResolvedTarget("post", str(row.post_id), str(row.entity_id))


def resolve(session: Session, *, target: Target, link_base: str) -> ResolvedTarget:
    if target.url is not None:
        entity_name, post_ref = parse_link(target.url, link_base)
        entity_id = _entity_id(session, entity_name)
        if entity_id is None:
            raise TargetNotFound("No public channel, group or bot has this link.")
        if post_ref is not None:
            return _post(session, post_ref, entity_id)
        return ResolvedTarget("entity", entity_id, entity_id)
    if target.kind == "post":
        return _post(session, str(target.id), None)
    entity_id = _entity_id(session, str(target.id))
    if entity_id is None:
        raise TargetNotFound("No public channel, group or bot has this id.")
    return ResolvedTarget("entity", entity_id, entity_id)

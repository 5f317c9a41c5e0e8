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
    entity: Entity


def parse_link(url: str, base: str) -> tuple[str, str | None]:
    """(entity, post or None) from ``{base}/{entity}[/{post}]``."""
    link, home = urlsplit(url.strip()), urlsplit(base)
    if link.scheme not in ("http", "https") or (link.hostname or "") != (home.hostname or ""):
        raise InvalidLink(f"Links to public channels and posts start with {base}/.")
    parts = [p for p in link.path[len(home.path.rstrip("/")) :].split("/") if p]
    if not 1 <= len(parts) <= 2:
        raise InvalidLink(f"Expected {base}/<channel> or {base}/<channel>/<post>.")
    return parts[0], parts[1] if len(parts) == 2 else None


def find_links(text: str, base: str) -> list[str]:
    host = urlsplit(base).hostname or ""
    return [
        word.strip(".,;:!?()<>\"'")
        for word in text.split()
        if (urlsplit(word.strip(".,;:!?()<>\"'")).hostname or "") == host
    ]


def _entity(session: Session, name: str) -> Entity | None:
    by_id = session.execute(select(Entity).where(Entity.entity_id == name)).scalar_one_or_none()
    if by_id is not None:
        return by_id
    return session.execute(
        select(Entity).where(func.lower(Entity.username) == name.lower().lstrip("@")).limit(1)
    ).scalar_one_or_none()


def _live_entity(entity: Entity | None) -> Entity:
    if entity is None or entity.deleted_at is not None:
        raise TargetNotFound("No public channel, group or bot has this id or link.")
    return entity


def _post(session: Session, ref: str, entity: Entity | None) -> ResolvedTarget:
    post = session.execute(select(Post).where(Post.post_id == ref)).scalar_one_or_none()
    if (
        post is None
        or post.deleted_at is not None
        or (entity is not None and post.entity_id != entity.entity_id)
    ):
        raise TargetNotFound("No public post has this id or link.")
    return ResolvedTarget("post", post.post_id, _live_entity(_entity(session, post.entity_id)))


def resolve(session: Session, target: Target, *, link_base: str) -> ResolvedTarget:
    if target.url is not None:
        entity_name, post_ref = parse_link(target.url, link_base)
        entity = _live_entity(_entity(session, entity_name))
        if post_ref is not None:
            return _post(session, post_ref, entity)
        return ResolvedTarget("entity", entity.entity_id, entity)
    if target.kind == "post":
        return _post(session, str(target.id), None)
    entity = _live_entity(_entity(session, str(target.id)))
    return ResolvedTarget("entity", entity.entity_id, entity)

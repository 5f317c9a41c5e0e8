"""What a notice is about: a public post or entity, named by id or by its public link."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from rempart.core.errors import RempartError
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


def _entity_ids(connection: Connection, names: set[str]) -> dict[str, str | None]:
    """Live entities named by id or by username, in two queries whatever their number
    (columns only: this is on intake's path). A name matching a deleted entity's id names
    nothing, as the entity it named is gone."""
    if not names:
        return {}
    found: dict[str, str | None] = {
        str(entity_id): (str(entity_id) if deleted_at is None else None)
        for entity_id, deleted_at in connection.execute(
            select(Entity.entity_id, Entity.deleted_at).where(Entity.entity_id.in_(names))
        )
    }
    wanted: dict[str, list[str]] = defaultdict(list)  # "@Name" and "name" fold alike
    for name in names - found.keys():
        wanted[name.lower().lstrip("@")].append(name)
    if wanted:
        by_username: dict[str, str | None] = {}
        for entity_id, username, deleted_at in connection.execute(
            select(Entity.entity_id, func.lower(Entity.username), Entity.deleted_at).where(
                func.lower(Entity.username).in_(list(wanted))
            )
        ):
            if by_username.get(username) is None:  # a live entity over a deleted one
                by_username[username] = str(entity_id) if deleted_at is None else None
        for folded, alike in wanted.items():
            for name in alike:
                found[name] = by_username.get(folded)
    return found


def _live_posts(connection: Connection, refs: set[str]) -> dict[str, str]:
    """The entity of each live post (in a live entity) among ``refs``."""
    if not refs:
        return {}
    rows = connection.execute(_LIVE_POSTS, {"refs": list(refs)})
    return {str(post_id): str(entity_id) for post_id, entity_id in rows}


# Built once: on intake's path, building the statement cost as much as running it.
_LIVE_POSTS = (
    select(Post.post_id, Post.entity_id)
    .join(Entity, Entity.entity_id == Post.entity_id)
    .where(
        Post.post_id.in_(bindparam("refs", expanding=True)),
        Post.deleted_at.is_(None),
        Entity.deleted_at.is_(None),
    )
)


def resolve_many(
    connection: Connection, *, targets: list[Target], link_base: str
) -> list[ResolvedTarget | RempartError]:
    """What each target names, or why it names nothing, in a few queries for the lot."""
    # Each target as (post ref or None, entity name or None, named by a link).
    parsed: list[tuple[str | None, str | None, bool] | RempartError] = []
    for target in targets:
        if target.url is not None:
            try:
                name, ref = parse_link(target.url, link_base)
            except RempartError as invalid:
                parsed.append(invalid)
                continue
            parsed.append((ref, name, True))
        elif target.kind == "post":
            parsed.append((str(target.id), None, False))
        else:
            parsed.append((None, str(target.id), False))
    entities = _entity_ids(
        connection, {p[1] for p in parsed if not isinstance(p, RempartError) and p[1] is not None}
    )
    posts = _live_posts(
        connection, {p[0] for p in parsed if not isinstance(p, RempartError) and p[0] is not None}
    )
    resolved: list[ResolvedTarget | RempartError] = []
    for each in parsed:
        if isinstance(each, RempartError):
            resolved.append(each)
            continue
        post_ref, entity_name, linked = each
        named = entities.get(entity_name) if entity_name is not None else None
        if entity_name is not None and named is None:
            resolved.append(
                TargetNotFound(
                    f"No public channel, group or bot has this {'link' if linked else 'id'}."
                )
            )
        elif post_ref is None:
            resolved.append(ResolvedTarget("entity", named or "", named or ""))
        else:
            owner = posts.get(post_ref)
            if owner is None or (named is not None and owner != named):
                resolved.append(TargetNotFound("No public post has this id or link."))
            else:
                resolved.append(ResolvedTarget("post", post_ref, owner))
    return resolved


def resolve(session: Session, *, target: Target, link_base: str) -> ResolvedTarget:
    if session.autoflush:
        session.flush()  # the session's pending changes are read too, as its queries would
    found = resolve_many(session.connection(), targets=[target], link_base=link_base)[0]
    if isinstance(found, RempartError):
        raise found
    return found

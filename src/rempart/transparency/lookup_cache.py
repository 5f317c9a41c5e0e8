"""The public country lookup is anonymous, so it must be cheap: the disclosure figures are
read from the log once per process, then extended with only the entries each new signed
head adds, and each answer is kept until the next head."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from rempart.audit.models import AuditHead
from rempart.audit.schemas import SignedTreeHead
from rempart.transparency import figures

MAX_LOGS = 8  # databases one process reads (tests open many)
MAX_ANSWERS = 4096  # (country, period) answers kept per head


@dataclass
class _Cached:
    tree_size: int
    root_hash: bytes
    log: figures.Log
    answers: dict[Hashable, dict[str, Any]] = field(default_factory=dict)


_lock = threading.Lock()
_cached: dict[str, _Cached] = {}


def _read(session: Session, database: str, head: SignedTreeHead) -> _Cached:
    from rempart.transparency.service import read_log  # service imports this module

    root = bytes.fromhex(head.root_hash)
    cached = _cached.get(database)
    if cached is not None and (cached.tree_size, cached.root_hash) == (head.tree_size, root):
        return cached
    start, log = 0, None
    if cached is not None and cached.tree_size < head.tree_size:
        # Extend only a log whose head is still the one signed for its size: a database
        # rewritten or replaced since is read again from the start.
        still = session.get(AuditHead, cached.tree_size)
        if still is not None and bytes(still.root_hash) == cached.root_hash:
            start, log = cached.tree_size, cached.log
    log = read_log(
        session, kind="lawful_disclosure", tree_size=head.tree_size, start=start, log=log
    )
    if database not in _cached and len(_cached) >= MAX_LOGS:
        _cached.pop(next(iter(_cached)))
    fresh = _cached[database] = _Cached(head.tree_size, root, log)
    return fresh


def answer(
    session: Session,
    *,
    head: SignedTreeHead,
    key: Hashable,
    compute: Callable[[figures.Log], dict[str, Any]],
) -> dict[str, Any]:
    """The answer for ``key`` under ``head``, computed at most once per head."""
    database = f"{session.get_bind().engine.url!r}|{head.log_id}"
    with _lock:
        cached = _read(session, database, head)
        found = cached.answers.get(key)
        if found is None:
            if len(cached.answers) >= MAX_ANSWERS:
                cached.answers.clear()
            found = cached.answers[key] = compute(cached.log)
        return found

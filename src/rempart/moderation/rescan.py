"""Re-evaluating the corpus when a model, a rule list or a hash bank changes.

The plan is a set of queued jobs, one per range of row ids, so the worker does the work,
a killed worker loses nothing (jobs are leased and retried) and a rescan is resumable by
construction. Human decisions stand unless the content changed (see ``pipeline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.jobs import enqueue
from rempart.core.models import Job
from rempart.moderation import events
from rempart.platform.models import Entity, Post, PostMedia

RESCAN_JOB = "moderation.rescan"
# Rows per rescan job: one job's write transaction is that many items (see SCAN_CHUNK).
RANGE = 50


@dataclass(frozen=True)
class RescanPlan:
    first_job_id: int | None
    last_job_id: int | None
    jobs: int
    items: int


def plan(
    session: Session,
    *,
    media_only: bool,
    reason: str,
    actor: str,
    reuse_scores: bool = False,
) -> RescanPlan:
    """Queue the jobs that rescan every entity, then every post (or only posts with media).

    With ``reuse_scores`` an item whose text and classifier are those of its last machine
    verdict is judged again on the classifier's stored answer (``stored_scores``): for a
    rescan that a policy, rule or hash bank change triggered, not a model change."""
    targets: list[tuple[str, Any]] = [("post", Post.id)]
    if not media_only:
        targets.insert(0, ("entity", Entity.id))
    jobs = items = 0
    for kind, id_column in targets:
        query = select(id_column).order_by(id_column)
        if kind == "post" and media_only:
            query = query.where(
                select(PostMedia.id).where(PostMedia.post_id == Post.post_id).exists()
            )
        ids = list(session.execute(query).scalars())
        items += len(ids)
        for start in range(0, len(ids), RANGE):
            chunk = ids[start : start + RANGE]
            enqueue(
                session,
                kind=RESCAN_JOB,
                payload={
                    "kind": kind,
                    "first_id": chunk[0],
                    "last_id": chunk[-1],
                    "media_only": media_only,
                    "reuse_scores": reuse_scores,
                },
            )
            jobs += 1
    session.flush()
    last = session.execute(select(func.max(Job.id)).where(Job.kind == RESCAN_JOB)).scalar_one()
    first = last - jobs + 1 if last is not None and jobs else None
    audit.record(
        session,
        events.RescanPlanned(
            reason=reason,
            jobs=jobs,
            items=items,
            media_only=media_only,
            reuse_scores=reuse_scores,
        ),
        actor=actor,
    )
    return RescanPlan(
        first_job_id=first, last_job_id=last if jobs else None, jobs=jobs, items=items
    )


def refs_in_range(session: Session, *, payload: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(entity ids, post ids) that a rescan job covers."""
    if payload["kind"] == "entity":
        entity_ids = session.execute(
            select(Entity.entity_id).where(
                Entity.id.between(payload["first_id"], payload["last_id"])
            )
        ).scalars()
        return list(entity_ids), []
    query = select(Post.post_id).where(Post.id.between(payload["first_id"], payload["last_id"]))
    if payload.get("media_only"):
        query = query.where(select(PostMedia.id).where(PostMedia.post_id == Post.post_id).exists())
    return [], list(session.execute(query).scalars())


def progress(session: Session, *, rescan: RescanPlan) -> tuple[int, int]:
    """(finished, total) jobs of a planned rescan."""
    if rescan.first_job_id is None or rescan.last_job_id is None:
        return 0, 0
    finished = session.execute(
        select(func.count()).where(
            Job.id.between(rescan.first_job_id, rescan.last_job_id),
            Job.status.in_(["done", "failed"]),
        )
    ).scalar_one()
    return int(finished), rescan.jobs

"""Open a hotline report for an item, build it in CyberTipline form, list reports.

A report opens in the transaction of what triggered it: the scan that matched a hash bank
of known material, or a moderator's decision in the child sexual abuse category. The
worker then builds it (the keys decrypt the uploader's data), sends it through the port,
preserves the evidence and suspends the account (``tasks.py``)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.models import AuditEntry
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.settings import Settings
from rempart.hotline import events
from rempart.hotline.models import HotlineReport
from rempart.hotline.schemas import (
    INCIDENT_TYPE,
    CyberTiplineReport,
    FileHash,
    HotlineReportPage,
    HotlineReportRead,
    IncidentSummary,
    IpCaptureEvent,
    ReportedPerson,
    ReportingPerson,
    UploadedFile,
    WebPageIncident,
)
from rempart.moderation import hooks as moderation_hooks
from rempart.moderation.media import PURPOSE as MEDIA_PURPOSE
from rempart.moderation.models import ModerationDecision, ModerationItem, ReviewMedia
from rempart.platform.models import Account, Connection, Entity, Post, PostMedia

# The policy category of child sexual abuse material (moderation/data/policy.json).
CSAM_CATEGORY = moderation_hooks.CSAM_CATEGORY
ACTOR = "system:hotline"
# The uploader's connections around the upload: the hotline and the police it forwards
# to look for the address the file came from.
CONNECTIONS_BEFORE = timedelta(days=7)
CONNECTIONS_AFTER = timedelta(days=1)
MAX_CONNECTIONS = 50
# The account suspension that follows a report has no end date; a user would rather know
# that a person looks at it again, and when, than read "for ever". It is due for review
# after this long, while the report and its evidence are still held
# (``csam_evidence_days``, one year at least).
SUSPENSION_REVIEW_AFTER = timedelta(days=180)


def csam_matches(signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in signals if s.get("source") == "hash" and s.get("category") == CSAM_CATEGORY]


def open_report(
    session: Session,
    *,
    item: ModerationItem,
    trigger: str,
    now: datetime,
    decision_id: int | None = None,
) -> HotlineReport | None:
    """The item's report, opened now or earlier. One per item: a moderator confirming a
    hash match adds the confirmation to the same report, not a second report. The item
    is a post, or a whole channel or group a moderator found to be sharing the material
    (then the report covers its posts' files, as the hotline's reports about one account
    or place with several files do)."""
    existing = session.execute(
        select(HotlineReport).where(HotlineReport.item_id == item.id)
    ).scalar_one_or_none()
    if existing is not None:
        if decision_id is not None and existing.decision_id is None:
            existing.decision_id = decision_id
        return existing
    report = HotlineReport(
        # Unique until the id gives it its real reference, a few lines down.
        reference=f"tmp-{item.id}",
        item_id=item.id,
        trigger=trigger,
        decision_id=decision_id,
        account_ref=item.owner_user_id,
        matches=csam_matches(item.signals),
        state="pending",
        attempts=0,
        created_at=now,
    )
    session.add(report)
    session.flush()
    report.reference = f"CT-{now:%Y}-{report.id:06d}"
    audit.record(
        session,
        events.ReportOpened(trigger=trigger, item=f"{item.kind}:{item.ref}"),
        actor=ACTOR,
        target=f"hotline:{report.reference}",
    )
    session.flush()
    return report


def takes_media(report: HotlineReport | None) -> bool:
    """Whether the report still needs the item's review originals for its evidence."""
    return report is not None and report.state == "pending"


def _viewed(session: Session, post_id: str) -> bool:
    return (
        session.execute(
            select(AuditEntry.seq)
            .where(
                AuditEntry.action == "moderation.media.revealed",
                AuditEntry.target == f"post:{post_id}",
            )
            .limit(1)
        ).first()
        is not None
    )


def _person(
    session: Session, keys: KeyRing, user_id: str | None, around: datetime
) -> ReportedPerson | None:
    if user_id is None:
        return None
    account = session.execute(
        select(Account).where(Account.user_id == user_id)
    ).scalar_one_or_none()
    connections = session.execute(
        select(Connection.ip_ciphertext, Connection.port, Connection.seen_at)
        .where(
            Connection.user_id == user_id,
            Connection.seen_at >= around - CONNECTIONS_BEFORE,
            Connection.seen_at <= around + CONNECTIONS_AFTER,
        )
        .order_by(Connection.seen_at)
        .limit(MAX_CONNECTIONS)
    ).all()
    phone = None
    if account is not None and account.phone_ciphertext:
        phone = keys.decrypt(account.phone_ciphertext, purpose="phone")
    return ReportedPerson(
        espIdentifier=user_id,
        screenName=account.username if account else None,
        phone=phone,
        phoneCountry=account.phone_country if account else None,
        accountCreated=as_utc(account.registered_at) if account else None,
        ipCaptureEvents=[
            IpCaptureEvent(
                ipAddress=keys.decrypt(blob, purpose="ip"),
                port=port,
                eventName="Login",
                dateTime=as_utc(seen),
            )
            for blob, port, seen in connections
        ],
    )


# A report about a channel or an account lists at most this many posts' files.
MAX_POSTS = 200
POST = "post"
CHANNEL = "channel"
ACCOUNT = "account"


def scope_of(session: Session, report: HotlineReport, item: ModerationItem) -> str:
    """What the report is about: one post, a whole channel or group (the moderator
    decided on it), or an account (the moderator suspended it for this material)."""
    if report.decision_id is not None:
        decision = session.get(ModerationDecision, report.decision_id)
        if decision is not None and decision.action == "suspend_account" and report.account_ref:
            return ACCOUNT
    return CHANNEL if item.kind == "entity" else POST


def reported_posts(session: Session, report: HotlineReport) -> list[str]:
    """The posts whose files the report carries, oldest first."""
    item = session.get(ModerationItem, report.item_id)
    assert item is not None
    scope = scope_of(session, report, item)
    if scope == POST:
        return [item.ref]
    with_media = select(PostMedia.post_id).distinct()
    query = select(Post.post_id).where(Post.deleted_at.is_(None), Post.post_id.in_(with_media))
    if scope == CHANNEL:
        query = query.where(Post.entity_id == item.ref)
    else:
        query = query.where(Post.author_user_id == report.account_ref)
    found = list(session.execute(query.order_by(Post.published_at).limit(MAX_POSTS)).scalars())
    if item.kind == "post" and item.ref not in found:
        found.insert(0, item.ref)
    return found


def build(
    session: Session, *, keys: KeyRing, settings: Settings, report: HotlineReport
) -> tuple[CyberTiplineReport, list[dict[str, Any]]]:
    """The report as the hotline receives it, and the media to preserve beside it."""
    item = session.get(ModerationItem, report.item_id)
    assert item is not None
    scope = scope_of(session, report, item)
    base = settings.public_link_base.rstrip("/")
    entity = session.execute(
        select(Entity).where(Entity.entity_id == item.entity_id)
    ).scalar_one_or_none()
    posts = {
        p.post_id: p
        for p in session.execute(
            select(Post).where(Post.post_id.in_(reported_posts(session, report)))
        ).scalars()
    }
    names = {
        e.entity_id: e.username or e.entity_id
        for e in session.execute(
            select(Entity).where(Entity.entity_id.in_({p.entity_id for p in posts.values()}))
        ).scalars()
    }
    media = list(
        session.execute(
            select(PostMedia)
            .where(PostMedia.post_id.in_(list(posts)))
            .order_by(PostMedia.post_id, PostMedia.position)
        ).scalars()
    )
    banks = sorted({str(m.get("detail", "")) for m in report.matches})
    viewed = {post_id: _viewed(session, post_id) for post_id in posts}
    files = []
    originals = []
    for m in media:
        post = posts[m.post_id]
        hashes = [
            FileHash(algorithm=name, value=value)
            for name, value in (("SHA256", m.sha256), ("MD5", m.md5), ("PDQ", m.pdq))
            if value
        ]
        files.append(
            UploadedFile(
                fileId=f"{post.post_id}#{m.position}",
                locationOfFile=f"{base}/{names.get(post.entity_id, post.entity_id)}/{post.post_id}",
                hashes=hashes,
                fileViewedByEsp=viewed[post.post_id],
                publiclyAvailable=True,
                matchedBanks=banks if post.post_id == item.ref else [],
            )
        )
        held = session.get(ReviewMedia, m.id)
        originals.append(
            {
                "file_id": f"{post.post_id}#{m.position}",
                "sha256": m.sha256,
                "content_base64": (
                    base64.b64encode(
                        keys.decrypt_bytes(held.original, purpose=MEDIA_PURPOSE)
                    ).decode()
                    if held is not None
                    else None
                ),
            }
        )
    name = (entity.username if entity else None) or item.entity_id
    if item.kind == "post":
        url = f"{base}/{name}/{item.ref}"
        published = as_utc(posts[item.ref].published_at)
    else:
        url = f"{base}/{name}"
        published = as_utc(entity.published_at) if entity else as_utc(report.created_at)
    annotations = ["Matched a hash bank of known material"] if report.matches else []
    if report.decision_id is not None:
        annotations.append("Confirmed by a moderator")
    if scope == CHANNEL:
        annotations.append("The whole public channel or group shares the material")
    elif scope == ACCOUNT:
        annotations.append("The account shares the material in several places")
    tip = CyberTiplineReport(
        reference=report.reference,
        reporter=ReportingPerson(
            companyName=settings.hotline_reporter_company, email=settings.hotline_reporter_email
        ),
        incidentSummary=IncidentSummary(
            incidentType=INCIDENT_TYPE, incidentDateTime=published, reportAnnotations=annotations
        ),
        webPageIncident=WebPageIncident(
            url=url,
            entityId=item.entity_id,
            entityTitle=entity.title if entity else None,
            publiclyAvailable=True,
        ),
        personOrUserReported=_person(session, keys, report.account_ref, published),
        uploadedFiles=files,
    )
    return tip, originals


def list_reports(session: Session, *, limit: int, offset: int) -> HotlineReportPage:
    rows = session.execute(
        select(HotlineReport, ModerationItem)
        .join(ModerationItem, ModerationItem.id == HotlineReport.item_id)
        .order_by(HotlineReport.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    counts = dict(
        session.execute(
            select(PostMedia.post_id, func.count())
            .where(PostMedia.post_id.in_([item.ref for _, item in rows]))
            .group_by(PostMedia.post_id)
        ).all()
    )
    for r, item in rows:
        if item.kind != "post" or scope_of(session, r, item) != POST:
            # A channel's or an account's report: the files of all the posts it covers.
            counts[item.ref] = session.execute(
                select(func.count())
                .select_from(PostMedia)
                .where(PostMedia.post_id.in_(reported_posts(session, r)))
            ).scalar_one()
    total = session.execute(select(func.count()).select_from(HotlineReport)).scalar_one()
    return HotlineReportPage(
        items=[
            HotlineReportRead(
                reference=r.reference,
                item_id=r.item_id,
                item=f"{item.kind}:{item.ref}",
                trigger=r.trigger,
                state=r.state,
                attempts=r.attempts,
                last_error=r.last_error,
                receipt=r.receipt,
                evidence_id=r.evidence_id,
                files=int(counts.get(item.ref, 0)),
                created_at=as_utc(r.created_at),
                sent_at=as_utc(r.sent_at) if r.sent_at else None,
                suspension_review_at=(
                    as_utc(r.sent_at) + SUSPENSION_REVIEW_AFTER
                    if r.sent_at and r.account_ref
                    else None
                ),
            )
            for r, item in rows
        ],
        total=total,
    )

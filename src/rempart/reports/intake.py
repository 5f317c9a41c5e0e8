"""Receiving a notice (DSA Art. 16): who sends it, what it is about, and into which case."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.exceptions import Forbidden
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.jobs import enqueue
from rempart.core.settings import Settings
from rempart.platform.models import Account, Connection
from rempart.reports import cases
from rempart.reports.exceptions import (
    GoodFaithRequired,
    PlatformUserRequired,
    ReporterRequired,
    ReporterSuspended,
    ReportNotFound,
)
from rempart.reports.models import Report, ReportCase, Reporter
from rempart.reports.notices import CONTACT_PURPOSE
from rempart.reports.schemas import ReportCreate
from rempart.reports.targets import resolve
from rempart.search.text import fold

ASSESS_JOB = "reports.assess"
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Sender:
    """Who is at the other end of the request: nobody known (the public web form), a
    platform forwarding a user's notice, or a trusted flagger."""

    caller: Caller | None
    network: str | None  # the client's address, for public requests only
    channel: str  # web | platform | bot | flagger


def simhash(text: str) -> int:
    """64-bit similarity hash of the words and word pairs: near-identical texts differ in
    few bits, whatever their length."""
    words = _WORD.findall(fold(text))
    features = words + [f"{a} {b}" for a, b in pairwise(words)]
    weights = [0] * 64
    for feature in features:
        value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if value >> bit & 1 else -1
    unsigned = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned  # fits a BIGINT


def network_of(keys: KeyRing, host: str) -> bytes | None:
    """The keyed hash of the /24 or /48 holding a client's address (None if it is none)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return keys.network_index(str(address))


def _reporter(
    session: Session, keys: KeyRing, data: ReportCreate, sender: Sender, now: datetime
) -> Reporter | None:
    caller = sender.caller
    contact: bytes | None = None
    platform_user_id = principal_id = None
    if caller is None:
        if data.platform_user_id is not None:
            raise Forbidden("Only a platform's token may vouch for a platform user.")
        if data.reporter is None:
            if data.category == "csam_indicators":
                return None  # anonymous notices are accepted for child sexual abuse
            raise ReporterRequired(
                "Give your name and email address; only notices of child sexual abuse may be "
                "anonymous."
            )
        kind = "email"
        identity = data.reporter.email.lower()
        contact = keys.encrypt_bytes(
            json.dumps({"name": data.reporter.name, "email": data.reporter.email}).encode(),
            purpose=CONTACT_PURPOSE,
        )
    elif caller.role is Role.PLATFORM:
        if data.platform_user_id is None:
            raise PlatformUserRequired("Name the platform user who sends this notice.")
        kind, principal_id = "platform_user", caller.principal_id
        platform_user_id = data.platform_user_id
        identity = f"{caller.principal_id}:{data.platform_user_id}"
    elif caller.role is Role.FLAGGER:
        kind, principal_id = "flagger", caller.principal_id
        identity = str(caller.principal_id)
    else:
        raise Forbidden("Notices come from the public, a platform or a trusted flagger.")
    index = keys.blind_index(identity, purpose=f"reports.reporter.{kind}")
    reporter = session.execute(
        select(Reporter).where(Reporter.identity_index == index)
    ).scalar_one_or_none()
    if reporter is None:
        reporter = Reporter(
            kind=kind,
            identity_index=index,
            contact_ciphertext=contact,
            platform_user_id=platform_user_id,
            principal_id=principal_id,
            upheld=0,
            rejected=0,
            unfounded=0,
            created_at=now,
        )
        session.add(reporter)
        session.flush()
    elif contact is not None:
        reporter.contact_ciphertext = contact  # the latest name and address given
    if reporter.suspended_until is not None and as_utc(reporter.suspended_until) > now:
        raise ReporterSuspended(
            "The processing of your notices is suspended (DSA Art. 23) until "
            f"{as_utc(reporter.suspended_until).date().isoformat()}, because many of them "
            "were manifestly unfounded.",
            until=as_utc(reporter.suspended_until).isoformat(),
        )
    return reporter


def _account_facts(
    session: Session, user_id: str | None
) -> tuple[datetime | None, int | None, bytes | None]:
    """When the reporting account was created, how many connections it has, and the
    network of its latest one: what raid detection compares across reporters."""
    if user_id is None:
        return None, None, None
    created = session.execute(
        select(Account.registered_at).where(Account.user_id == user_id)
    ).scalar_one_or_none()
    connections = session.execute(
        select(func.count()).select_from(Connection).where(Connection.user_id == user_id)
    ).scalar_one()
    network = session.execute(
        select(Connection.network_index)
        .where(Connection.user_id == user_id)
        .order_by(Connection.seen_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return created, int(connections), network


def submit(
    session: Session,
    keys: KeyRing,
    settings: Settings,
    *,
    data: ReportCreate,
    sender: Sender,
    now: datetime,
) -> Report:
    if not data.good_faith:
        raise GoodFaithRequired(
            "Confirm that the notice is accurate and complete and sent in good faith."
        )
    target = resolve(session, data.target, link_base=settings.public_link_base)
    reporter = _reporter(session, keys, data, sender, now)
    created, connections, network = _account_facts(
        session, reporter.platform_user_id if reporter else None
    )
    if sender.network is not None:
        network = network_of(keys, sender.network)
    case = cases.open_case(session, target, category=data.category, now=now)
    report = Report(
        tracking_id=secrets.token_urlsafe(12),
        case_id=case.id,
        reporter_id=reporter.id if reporter else None,
        channel=sender.channel,
        category=data.category,
        explanation=data.explanation,
        good_faith=True,
        text_simhash=simhash(data.explanation),
        network_index=network,
        account_created_at=created,
        account_connections=connections,
        outcome="open",
        created_at=now,
    )
    session.add(report)
    session.flush()
    cases.add_report(session, case, report, reporter, now)
    _schedule_assessment(session, case)
    audit.record(
        session,
        actor=sender.caller.actor if sender.caller else "public",
        action="reports.received",
        target=f"{target.kind}:{target.ref}",
        details={
            "tracking_id": report.tracking_id,
            "case": case.id,
            "category": data.category,
            "channel": sender.channel,
            "reporter": reporter.kind if reporter else "anonymous",
        },
    )
    return report


def _schedule_assessment(session: Session, case: ReportCase) -> None:
    # One assessment job at a time per case: a raid of 300 notices is assessed a few times,
    # not 300.
    if not case.raid_signals.get("assessment_queued"):
        case.raid_signals = {**case.raid_signals, "assessment_queued": True}
        enqueue(session, kind=ASSESS_JOB, payload={"case_id": case.id})


def status(session: Session, *, tracking_id: str) -> Report:
    report = session.execute(
        select(Report).where(Report.tracking_id == tracking_id)
    ).scalar_one_or_none()
    if report is None:
        raise ReportNotFound("No notice has this tracking id.")
    return report

"""Receiving a notice (DSA Art. 16): who sends it, what it is about, and into which case."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection as DatabaseConnection
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.exceptions import Forbidden
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core import ratelimit
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.db import PreparedRows, prepare_rows, run_prepared
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.core.settings import Settings
from rempart.core.text import fold
from rempart.platform.models import Account, Connection
from rempart.reports import cases, events, raids
from rempart.reports.exceptions import (
    GoodFaithRequired,
    PlatformUserRequired,
    ReporterRequired,
    ReporterSuspended,
    ReportNotFound,
)
from rempart.reports.models import Report, Reporter
from rempart.reports.notices import CONTACT_PURPOSE
from rempart.reports.schemas import ReportCreate
from rempart.reports.targets import ResolvedTarget, resolve, resolve_many

# Notices filed per transaction: the web processes wait for SQLite's write lock meanwhile
# (a slice of 200 is filed in a few queries for all of it, see ``file_pending``).
FILE_BATCH = 200
# Connections older than this say nothing about whether an account is active now.
ACTIVITY_WINDOW = timedelta(days=90)
_WORD = re.compile(r"[a-z]+")
_RUN = re.compile(r"[a-z]+|[0-9]+")


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
    if not features:
        return 0
    import numpy as np  # loaded with the first notice, not when a web process starts

    digests = b"".join(hashlib.blake2b(f.encode(), digest_size=8).digest() for f in features)
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(len(features), 64)
    # Each bit of the result: whether most features have it set.
    majority = np.packbits(bits.sum(axis=0) * 2 > len(features)).tobytes()
    return int.from_bytes(majority, "big", signed=True)  # fits a BIGINT


def email_shape(local_part: str) -> str:
    """The shape of an email's local part: runs of letters and digits by their length
    ("jean.dupont84" -> "a4.a692"), so addresses a script made alike look alike."""
    return _RUN.sub(
        lambda m: ("9" if m.group(0)[0].isdigit() else "a") + str(len(m.group(0))),
        fold(local_part),
    )


def network_of(keys: KeyRing, host: str) -> bytes | None:
    """The keyed hash of the /24 or /48 holding a client's address (None if it is none)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return keys.network_index(str(address))


@dataclass(frozen=True)
class Identity:
    kind: str  # email | platform_user | flagger
    index: bytes
    contact: bytes | None
    platform_user_id: str | None
    principal_id: int | None


def _identity(keys: KeyRing, data: ReportCreate, sender: Sender) -> Identity | None:
    """Who sends the notice (None: anonymous, for child sexual abuse only)."""
    caller = sender.caller
    if caller is None:
        if data.platform_user_id is not None:
            raise Forbidden("Only a platform's token may vouch for a platform user.")
        if data.reporter is None:
            if data.category == "csam_indicators":
                return None
            raise ReporterRequired(
                "Give your name and email address; only notices of child sexual abuse may be "
                "anonymous."
            )
        contact = json.dumps({"name": data.reporter.name, "email": data.reporter.email})
        return Identity(
            "email",
            keys.blind_index(data.reporter.email.lower(), purpose="reports.reporter.email"),
            keys.encrypt_bytes(contact.encode(), purpose=CONTACT_PURPOSE),
            None,
            None,
        )
    if caller.role is Role.PLATFORM:
        if data.platform_user_id is None:
            raise PlatformUserRequired("Name the platform user who sends this notice.")
        who = f"{caller.principal_id}:{data.platform_user_id}"
        index = keys.blind_index(who, purpose="reports.reporter.platform_user")
        return Identity("platform_user", index, None, data.platform_user_id, caller.principal_id)
    if caller.role is Role.FLAGGER:
        index = keys.blind_index(str(caller.principal_id), purpose="reports.reporter.flagger")
        return Identity("flagger", index, None, None, caller.principal_id)
    raise Forbidden("Notices come from the public, a platform or a trusted flagger.")


def _refuse_if_suspended(session: Session, identity: Identity, now: datetime) -> None:
    until = session.execute(
        select(Reporter.suspended_until).where(Reporter.identity_index == identity.index)
    ).scalar_one_or_none()
    if until is not None and as_utc(until) > now:
        raise ReporterSuspended(
            "The processing of your notices is suspended (DSA Art. 23) until "
            f"{as_utc(until).date().isoformat()}, because many of them were manifestly "
            "unfounded.",
            until=as_utc(until).isoformat(),
        )


def _reporters(session: Session, reports: list[Report], now: datetime) -> dict[bytes, Reporter]:
    """The reporters of a batch of notices, created on their first notice; an email
    reporter's latest name and address replace earlier ones."""
    indexes = {r.reporter_index for r in reports if r.reporter_index is not None}
    known = {
        r.identity_index: r
        for r in session.execute(
            select(Reporter).where(Reporter.identity_index.in_(indexes))
        ).scalars()
    }
    new: dict[bytes, dict[str, Any]] = {}
    for report in reports:
        index = report.reporter_index
        if index is None:
            continue
        reporter = known.get(index)
        if reporter is None and index not in new:
            new[index] = {
                "kind": report.reporter_kind,
                "identity_index": index,
                "contact_ciphertext": report.reporter_contact,
                "platform_user_id": report.platform_user_id,
                "principal_id": report.sender_principal_id,
                "upheld": 0,
                "rejected": 0,
                "unfounded": 0,
                "created_at": as_utc(report.created_at),
            }
        elif report.reporter_contact is not None:
            if reporter is None:
                new[index]["contact_ciphertext"] = report.reporter_contact
            else:
                reporter.contact_ciphertext = report.reporter_contact
    if new:
        # One statement for all of them (the ORM would insert them one by one).
        for reporter in session.scalars(insert(Reporter).returning(Reporter), list(new.values())):
            known[reporter.identity_index] = reporter
    session.flush()
    return known


@dataclass(frozen=True)
class Received:
    """A notice stored: what its sender is told."""

    tracking_id: str
    created_at: datetime


@dataclass(frozen=True)
class Screening:
    """Notices checked against everything but their rate limits, the rows of those that
    passed prepared for insertion: what :func:`store` writes in a short transaction."""

    outcomes: list[Received | RempartError]  # what each notice gets, limits aside
    limit_keys: list[bytes | None]  # the rate limit each notice counts against
    rows: PreparedRows  # the received notices' rows, in order


def _row(
    keys: KeyRing,
    data: ReportCreate,
    sender: Sender,
    target: ResolvedTarget,
    identity: Identity | None,
    now: datetime,
) -> dict[str, Any]:
    """The ``reports`` row of a notice that passed its checks (every column: rows go to the
    driver as they are)."""
    domain_index = shape_index = None
    if data.reporter is not None and sender.caller is None:
        local, _, domain = data.reporter.email.lower().rpartition("@")
        domain_index = keys.blind_index(domain, purpose="reports.email.domain")
        shape_index = keys.blind_index(email_shape(local), purpose="reports.email.shape")
    return {
        "tracking_id": secrets.token_urlsafe(12),
        "target_kind": target.kind,
        "target_ref": target.ref,
        "entity_id": target.entity_id,
        "case_id": None,
        "reporter_id": None,
        "reporter_kind": identity.kind if identity else None,
        "reporter_index": identity.index if identity else None,
        "reporter_contact": identity.contact if identity else None,
        "platform_user_id": identity.platform_user_id if identity else None,
        "sender_principal_id": identity.principal_id if identity else None,
        "channel": sender.channel,
        "category": data.category,
        "explanation": data.explanation,
        "good_faith": True,
        "text_simhash": simhash(data.explanation),
        "network_index": network_of(keys, sender.network) if sender.network else None,
        "account_created_at": None,
        "account_connections": None,
        "email_domain_index": domain_index,
        "email_shape_index": shape_index,
        "coordinated": False,
        "weight": None,
        "outcome": "open",
        "created_at": now,
        "notified_at": None,
    }


_SUSPENSIONS = select(Reporter.identity_index, Reporter.suspended_until).where(
    Reporter.identity_index.in_(bindparam("indexes", expanding=True)),
    Reporter.suspended_until.is_not(None),
)


def _suspensions(
    connection: DatabaseConnection, indexes: set[bytes], now: datetime
) -> dict[bytes, datetime]:
    """The reporters among ``indexes`` whose notices are suspended, until when."""
    if not indexes:
        return {}
    rows = connection.execute(_SUSPENSIONS, {"indexes": list(indexes)})
    return {
        bytes(index): as_utc(until)
        for index, until in rows
        if until is not None and as_utc(until) > now
    }


def _refusal(
    data: ReportCreate,
    target: ResolvedTarget | RempartError,
    identity: Identity | RempartError | None,
    suspended: dict[bytes, datetime],
) -> RempartError | None:
    """Why a notice is refused, in the order :func:`submit` checks (None: it is not)."""
    if not data.good_faith:
        return GoodFaithRequired(
            "Confirm that the notice is accurate and complete and sent in good faith."
        )
    if isinstance(target, RempartError):
        return target
    if isinstance(identity, RempartError):
        return identity
    if identity is not None and identity.index in suspended:
        until = suspended[identity.index]
        return ReporterSuspended(
            "The processing of your notices is suspended (DSA Art. 23) until "
            f"{until.date().isoformat()}, because many of them were manifestly "
            "unfounded.",
            until=until.isoformat(),
        )
    return None


def screen(
    connection: DatabaseConnection,
    *,
    keys: KeyRing,
    settings: Settings,
    notices: list[ReportCreate],
    sender: Sender,
    now: datetime,
    limit_key: bytes | None = None,
) -> Screening:
    """Check notices as :func:`submit` does, in a few reads for the lot (the connection may
    be read-only): good faith, a live target, a sender allowed to send it, a reporter whose
    notices are processed, refused in that order. Each counts against the rate limit of
    the user a platform vouches for, or else ``limit_key`` (the public's network)."""
    targets = resolve_many(
        connection, targets=[n.target for n in notices], link_base=settings.public_link_base
    )
    identities: list[Identity | RempartError | None] = []
    for data in notices:
        try:
            identities.append(_identity(keys, data, sender))
        except RempartError as not_allowed:
            identities.append(not_allowed)
    indexes = {i.index for i in identities if isinstance(i, Identity)}
    suspended = _suspensions(connection, indexes, now)
    outcomes: list[Received | RempartError] = []
    limit_keys: list[bytes | None] = []
    rows: list[dict[str, Any]] = []
    for data, target, identity in zip(notices, targets, identities, strict=True):
        caller = sender.caller
        if caller is not None and data.platform_user_id is not None:
            limit_keys.append(user_rate_key(keys, caller, data.platform_user_id))
        else:
            limit_keys.append(limit_key if caller is None else None)
        refused = _refusal(data, target, identity, suspended)
        if refused is not None:
            outcomes.append(refused)
        elif isinstance(target, ResolvedTarget) and not isinstance(identity, RempartError):
            row = _row(keys, data, sender, target, identity, now)
            rows.append(row)
            outcomes.append(Received(tracking_id=row["tracking_id"], created_at=now))
    prepared = prepare_rows(connection.dialect, Report.__table__, rows)
    return Screening(outcomes=outcomes, limit_keys=limit_keys, rows=prepared)


def store(
    session: Session, *, settings: Settings, screening: Screening, now: datetime
) -> list[Received | RempartError]:
    """Count the screened notices against their rate limits and store those received, in
    one statement each (one transaction: all of it or nothing). A notice past its limit
    is refused (429), a refused notice counts all the same."""
    limited = ratelimit.hit_many(
        session,
        keys=screening.limit_keys,
        limit=settings.report_rate_limit,
        window_seconds=settings.report_rate_window_seconds,
        now=now,
    )
    answers: list[Received | RempartError] = []
    keep: list[bool] = []
    for outcome, refusal in zip(screening.outcomes, limited, strict=True):
        answers.append(refusal or outcome)
        if isinstance(outcome, Received):
            keep.append(refusal is None)
    run_prepared(session, screening.rows, keep)
    return answers


def receive(
    rt: Runtime,
    notices: list[ReportCreate],
    sender: Sender,
    *,
    limit_key: bytes | None = None,
) -> tuple[list[Received | RempartError], datetime]:
    """Check notices in a read, then count them against their limits and store those
    received in one short write transaction: SQLite's write lock is held for two
    statements, whatever the number of notices. Returns each notice's outcome and the
    time they were received."""
    now = rt.now()
    # A bare connection: the reads are a few Core statements, and an ORM session's begin
    # and commit cost more than they do.
    with rt.read_connection() as connection:
        screening = screen(
            connection,
            keys=rt.keys,
            settings=rt.settings,
            notices=notices,
            sender=sender,
            now=now,
            limit_key=limit_key,
        )
    with rt.unit_of_work() as session:
        return store(session, settings=rt.settings, screening=screening, now=now), now


def submit(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    data: ReportCreate,
    sender: Sender,
    now: datetime,
) -> Report:
    """Check and store a notice. Only what the sender must hear about at once is done here
    (a valid target, a reporter whose notices are processed); filing it into its case,
    weighing and auditing it is the worker's, on its next round, in batches."""
    if not data.good_faith:
        raise GoodFaithRequired(
            "Confirm that the notice is accurate and complete and sent in good faith."
        )
    target = resolve(session, target=data.target, link_base=settings.public_link_base)
    identity = _identity(keys, data, sender)
    if identity is not None:
        _refuse_if_suspended(session, identity, now)
    report = Report(**_row(keys, data, sender, target, identity, now))
    session.add(report)
    return report


def count_against_limit(session: Session, *, settings: Settings, key: bytes, now: datetime) -> None:
    """One more notice (or appeal) under ``key``'s limit; 429 past it."""
    ratelimit.hit(
        session,
        key=key,
        limit=settings.report_rate_limit,
        window_seconds=settings.report_rate_window_seconds,
        now=now,
    )


def user_rate_key(keys: KeyRing, caller: Caller, platform_user_id: str) -> bytes:
    """The rate limit's key for the notices a platform forwards for one of its users."""
    key = f"{caller.principal_id}:{platform_user_id}"
    return keys.blind_index(key, purpose="reports.rate.user")


def sender_of(caller: Caller) -> Sender:
    """A platform or a trusted flagger sending notices with its token."""
    channel = "flagger" if caller.role == Role.FLAGGER else "platform"
    return Sender(caller=caller, network=None, channel=channel)


def file_pending(session: Session, *, settings: Settings, now: datetime) -> int:
    """File the notices received since the last run into their cases, weigh the cases and
    place them in the queue, audit the receipt, and look for raids in the cases touched.

    A slice of up to ``FILE_BATCH`` notices is filed with a few queries for all of it:
    their reporters, accounts, cases (opened where none is), earlier notices and what raid
    detection reads; then each case is audited and assessed in turn."""
    pending = list(
        session.execute(
            select(Report)
            .where(Report.case_id.is_(None))
            .order_by(Report.id)
            .limit(FILE_BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not pending:
        return 0
    reporters = _reporters(session, pending, now)
    facts = _account_facts(
        session, {r.platform_user_id for r in pending if r.platform_user_id}, now
    )
    by_target: dict[tuple[str, str], list[Report]] = defaultdict(list)
    for report in pending:
        by_target[(report.target_kind, report.target_ref)].append(report)
    opened = cases.open_cases(
        session,
        targets={
            target: cases.FirstNotice(
                entity_id=reports[0].entity_id,
                category=reports[0].category,
                at=as_utc(reports[0].created_at),
            )
            for target, reports in by_target.items()
        },
        now=now,
    )
    again = cases.reporting_again(
        session,
        case_ids={case.id for case in opened.values()},
        reporter_ids={r.id for r in reporters.values()},
    )
    for target, reports in by_target.items():
        case = opened[target]
        for report in reports:
            reporter = reporters.get(report.reporter_index) if report.reporter_index else None
            report.reporter_id = reporter.id if reporter else None
            if report.platform_user_id:
                created, connections, network = facts[report.platform_user_id]
                report.account_created_at, report.account_connections = created, connections
                report.network_index = report.network_index or network
            report.case_id = case.id
            repeat = reporter is not None and (case.id, reporter.id) in again
            cases.add_report(case=case, report=report, reporter=reporter, repeat=repeat, now=now)
            if reporter is not None:
                again.add((case.id, reporter.id))
    context = raids.Context.load(session, [opened[target] for target in by_target])
    for (kind, ref), reports in by_target.items():
        case = opened[(kind, ref)]
        audit.record(
            session,
            events.NoticesReceived(
                case=case.id,
                received=len(reports),
                tracking_ids=[r.tracking_id for r in reports[:100]],
                by_category=dict(Counter(r.category for r in reports)),
                by_channel=dict(Counter(r.channel for r in reports)),
                flagger_by_category=_flagged(reports),
            ),
            actor="system:reports",
            target=f"{kind}:{ref}",
        )
        raids.assess(session, settings=settings, case=case, now=now, context=context)
    return len(pending)


def _flagged(reports: list[Report]) -> dict[str, int]:
    """Trusted flaggers' notices by their own category (the DSA report counts them so)."""
    return dict(Counter(r.category for r in reports if r.channel == "flagger"))


def _account_facts(
    session: Session, user_ids: set[str], now: datetime
) -> dict[str, tuple[datetime | None, int, bytes | None]]:
    """For each reporting platform user: when the account was created, how many connections
    it made lately, and the network of the latest: what raid detection compares."""
    if not user_ids:
        return {}
    created = dict(
        session.execute(
            select(Account.user_id, Account.registered_at).where(Account.user_id.in_(user_ids))
        ).all()
    )
    recent: dict[str, list[tuple[datetime, bytes]]] = defaultdict(list)
    for user_id, seen_at, network in session.execute(
        select(Connection.user_id, Connection.seen_at, Connection.network_index).where(
            Connection.user_id.in_(user_ids), Connection.seen_at > now - ACTIVITY_WINDOW
        )
    ):
        recent[user_id].append((seen_at, network))
    return {
        user_id: (
            created.get(user_id),
            len(recent[user_id]),
            max(recent[user_id])[1] if recent[user_id] else None,
        )
        for user_id in user_ids
    }


def status(session: Session, *, tracking_id: str) -> Report:
    report = session.execute(
        select(Report).where(Report.tracking_id == tracking_id)
    ).scalar_one_or_none()
    if report is None:
        raise ReportNotFound("No notice has this tracking id.")
    return report

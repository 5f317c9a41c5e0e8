"""Making and publishing transparency reports. A report covers a period that has ended. It
is computed from the audit log up to a signed tree head, embeds that head, the head of the
previous report of its kind and the consistency proof between them, and is signed with the
log's key together with the root of its public dataset (``dataset.py``). Both are stored
as published: anyone can verify them offline (``standalone_verify.py``), and
``verify.py`` recomputes them from the log."""

from __future__ import annotations

import base64
import io
import json
import threading
import zipfile
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.models import AuditEntry
from rempart.audit.schemas import SignedTreeHead
from rempart.core.clock import now_of
from rempart.core.crypto import KeyRing
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.errors import Conflict, NotFound
from rempart.transparency import dataset, dsa_labels, dsa_templates, events, figures, lookup_cache
from rempart.transparency import standalone_verify as offline
from rempart.transparency.models import PublishedReport
from rempart.transparency.periods import (
    Period,
    ensure_ended,
    next_report_date,
    parse,
    quarter_of,
    report_date,
)

KINDS = tuple(figures.COMPUTE)
FORMAT_VERSION = figures.FORMAT_VERSION


class ReportNotFound(NotFound):
    code = "report_not_found"


class DatasetNotPublished(NotFound):
    code = "dataset_not_published"


class NoDsaTemplates(NotFound):
    code = "no_dsa_templates"


class PublicationRaced(Conflict):
    code = "publication_raced"


PUBLISH_ATTEMPTS = 3


def read_log(
    session: Session,
    *,
    kind: str,
    tree_size: int,
    period: Period | None = None,
    start: int = 0,
    log: figures.Log | None = None,
) -> figures.Log:
    """The entries a report of this kind reads under a head, found by their (indexed)
    action column, from the report's window on when a period is given: fast enough for a
    report; ``verify`` reads every body instead. With ``start`` and ``log``, extends a log
    already read up to ``start``."""
    log = figures.Log() if log is None else log
    query = select(AuditEntry.body).where(
        AuditEntry.seq >= start,
        AuditEntry.seq < tree_size,
        AuditEntry.action.in_(figures.RELEVANT_FOR[kind]),
    )
    if period is not None:
        query = query.where(AuditEntry.recorded_at >= figures.window_start(kind, period))
    bodies = session.execute(
        query.order_by(AuditEntry.seq).execution_options(yield_per=5000)
    ).scalars()
    for body in bodies:
        log.add(json.loads(body))
    return log


def compute(
    kind: str, log: figures.Log, period: Period, version: int = FORMAT_VERSION
) -> dict[str, Any]:
    return figures.compute(kind, log, period, version)


def _suppression() -> dict[str, Any]:
    return {
        "below": figures.SUPPRESS_BELOW,
        "rule": f"counts from 1 to {figures.SUPPRESS_BELOW - 1} are shown as "
        f'"{figures.SUPPRESSED}"; medians and rates over fewer than '
        f"{figures.SUPPRESS_BELOW} cases are null",
    }


def build(
    session: Session,
    *,
    keys: KeyRing,
    kind: str,
    period: Period,
    head: SignedTreeHead,
    previous_head: SignedTreeHead | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed report and its public dataset, both computed from the same entries."""
    bodies = dataset.window_bodies(session, kind=kind, period=period, tree_size=head.tree_size)
    log = figures.Log()
    for body in bodies:
        log.add(body)
    public = dataset.build(
        session,
        keys=keys,
        kind=kind,
        period=period,
        head=head,
        bodies=bodies,
        version=FORMAT_VERSION,
    )
    consistency = None
    if previous_head is not None and previous_head.tree_size > 0:
        consistency = audit.prove_consistency(
            session, keys=keys, first=previous_head.tree_size, second=head.tree_size
        ).proof
    report = {
        "kind": kind,
        "version": FORMAT_VERSION,
        "period": period.name,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "window_start": figures.window_start(kind, period).isoformat(),
        "generated_at": now.isoformat(),
        "next_report": next_report_date(now).isoformat(),
        "head": head.model_dump(),
        "previous_head": previous_head.model_dump() if previous_head else None,
        "consistency_proof": consistency,
        "suppression": _suppression(),
        "dataset": {
            "entries": len(public["entries"]),
            "root": offline.dataset_root(public["entries"]).hex(),
            "pseudonyms": "HMAC-SHA256 under a key of this report alone, "
            f"first {dataset.PSEUDONYM_HEX} hex digits; actors are left out",
        },
        "figures": compute(kind, log, period, FORMAT_VERSION),
    }
    report["signature"] = base64.b64encode(keys.sign(offline.signed_report_bytes(report))).decode()
    return report, public


def provisional(rt: Runtime, *, kind: str, sign_head: bool = False) -> dict[str, Any]:
    """The quarter under way, from the log under the latest signed head (signed first on
    request, as the CLI does): marked provisional, never stored, never signed, never a
    report."""
    if sign_head:
        audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
    now = rt.now()
    period = quarter_of(now)
    with rt.unit_of_work(readonly=True) as session:
        head = audit.latest_head(session, keys=rt.keys)
        log = read_log(session, kind=kind, tree_size=head.tree_size, period=period)
    return {
        "kind": kind,
        "provisional": True,
        "notice": "Provisional figures of a quarter under way; they will change. The report "
        f"for {period.name} is published on {report_date(period).isoformat()}.",
        "period": period.name,
        "generated_at": now.isoformat(),
        "next_report": report_date(period).isoformat(),
        "tree_size": head.tree_size,
        "suppression": _suppression(),
        "figures": compute(kind, log, period),
    }


def _latest_report(session: Session, kind: str) -> tuple[int | None, SignedTreeHead | None]:
    row = session.execute(
        select(PublishedReport.id, PublishedReport.document)
        .where(PublishedReport.kind == kind)
        .order_by(PublishedReport.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, None
    return row[0], SignedTreeHead.model_validate(json.loads(row[1])["head"])


def publish(rt: Runtime, *, kind: str, period_text: str) -> dict[str, Any]:
    """Sign a head over the log as it is, compute the report on it, and store it with
    its dataset. Only a period that has ended can be reported.

    The report and its proofs are computed in a read-only transaction (seconds over a
    large log) and stored in a short write transaction, which checks that no other report
    of this kind was published meanwhile: the chain of previous heads stays a chain."""
    period = parse(period_text)
    ensure_ended(period, rt.now())
    audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
    for _ in range(PUBLISH_ATTEMPTS):
        with transaction(rt.engine, readonly=True) as session:
            head = audit.latest_head(session, keys=rt.keys)
            previous_id, previous_head = _latest_report(session, kind)
            report, public = build(
                session,
                keys=rt.keys,
                kind=kind,
                period=period,
                head=head,
                previous_head=previous_head,
                now=rt.now(),
            )
        with transaction(rt.engine) as session:
            if _latest_report(session, kind)[0] != previous_id:
                continue  # another report was published meanwhile: chain onto it
            row = PublishedReport(
                kind=kind,
                period=period.name,
                tree_size=head.tree_size,
                published_at=rt.now(),
                document=json.dumps(report, sort_keys=True),
                dataset=json.dumps(public, sort_keys=True),
            )
            session.add(row)
            session.flush()
            report_id = row.id
            audit.record(
                session,
                events.ReportPublished(kind=kind, period=period.name, tree_size=head.tree_size),
                actor="system:transparency",
            )
        return {**report, "id": report_id}
    raise PublicationRaced("Other reports kept being published meanwhile; try again.")


def published(session: Session, *, kind: str, period: str | None) -> list[dict[str, Any]]:
    query = select(PublishedReport).where(PublishedReport.kind == kind)
    if period:
        query = query.where(PublishedReport.period == period)
    rows = session.execute(query.order_by(PublishedReport.id.desc()).limit(100)).scalars()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "period": r.period,
            "tree_size": r.tree_size,
            "published_at": r.published_at.isoformat(),
        }
        for r in rows
    ]


def published_document(session: Session, *, report_id: int) -> dict[str, Any]:
    row = session.get(PublishedReport, report_id)
    if row is None:
        raise ReportNotFound("No published report has this id.")
    document: dict[str, Any] = json.loads(row.document)
    return document


def published_dataset(session: Session, *, report_id: int) -> dict[str, Any]:
    row = session.get(PublishedReport, report_id)
    if row is None:
        raise ReportNotFound("No published report has this id.")
    if row.dataset is None:
        raise DatasetNotPublished(
            "This report was published before datasets existed; it verifies against the log."
        )
    document: dict[str, Any] = json.loads(row.dataset)
    return document


def country_lookup(
    session: Session,
    *,
    country: str,
    period_text: str | None,
    head: SignedTreeHead,
    trend: bool = False,
) -> dict[str, Any]:
    """What Telegram's transparency bot answers: per quarter, fulfilled requests and the
    users they affected, for one country, from the log under the latest signed head."""
    now = now_of(session)
    if period_text:
        period = parse(period_text)
    else:
        # The public page's trend ends with the last quarter that ended; the bot's answer
        # is the quarter under way, marked provisional.
        period = quarter_of(now)
        if trend:
            period = quarter_of(period.start - timedelta(days=1))
    next_report = next_report_date(now).isoformat()
    # Anonymous and unlimited: computed once per signed head (see lookup_cache). The next
    # report's date changes with the quarter, so is the "provisional" flag's.
    return lookup_cache.answer(
        session,
        head=head,
        key=(country, period.name, trend, next_report),
        compute=lambda log: _country_answer(
            log, country, period, trend, next_report, head, now=now
        ),
    )


def _country_answer(
    log: figures.Log,
    country: str,
    period: Period,
    trend: bool,
    next_report: str,
    head: SignedTreeHead,
    *,
    now: datetime,
) -> dict[str, Any]:
    quarters = []
    for quarter in figures.previous_quarters(period, figures.TREND_QUARTERS):
        if quarter.start < period.start and not trend:
            continue
        orders = [
            o for o in log.orders.values() if o.country == country and quarter.contains(o.received)
        ]
        row = figures.quarter_row(orders, quarter.name)
        quarters.append(
            {
                "period": quarter.name,
                # The same outcomes as the reports' per-country table and trend.
                "fulfilled_requests": row["fulfilled"],
                "partially_fulfilled": row["partially_fulfilled"],
                "refused": row["refused"],
                "users_affected": row["users_affected"],
                # A quarter under way is no report yet: its figures will still change.
                "provisional": quarter.end > now,
            }
        )
    return {
        "country": country,
        "period": period.name,
        "quarters": figures.suppress(quarters),
        "next_report": next_report,
        "tree_size": head.tree_size,
    }


def latest_report_id(session: Session, *, kind: str, period_text: str) -> int:
    """The last report of this kind published for the period."""
    period = parse(period_text)
    report_id = session.execute(
        select(PublishedReport.id)
        .where(PublishedReport.kind == kind, PublishedReport.period == period.name)
        .order_by(PublishedReport.id.desc())
        .limit(1)
    ).scalar()
    if report_id is None:
        raise ReportNotFound(f"No {kind} report has been published for {period.name}.")
    return int(report_id)


def dsa_template_files(
    rt: Runtime, *, report_id: int | None = None, period_text: str | None = None
) -> dict[str, str]:
    """A published DSA report in the CSV templates of Implementing Regulation (EU)
    2024/2835, computed from its public dataset as ``verify_report.py --templates`` does.
    The report and its dataset are read in a short transaction; the files are made after."""
    provider, service = rt.settings.dsa_provider_name, rt.settings.dsa_service_name
    with rt.unit_of_work(readonly=True) as session:
        if report_id is None:
            report_id = latest_report_id(session, kind="dsa", period_text=period_text or "")
        document = published_document(session, report_id=report_id)
        if document.get("kind") != "dsa":
            raise NoDsaTemplates("Only a DSA report has the templates of 2024/2835.")
        # The signature names the report whatever its id (a database may be recreated).
        key = (str(document.get("signature")), provider, service)
        cached = _TEMPLATES.get(key)
        if cached is not None:
            return cached
        public = published_dataset(session, report_id=report_id)
    files = dsa_templates.render(document, public, provider=provider, service=service)
    # A published report never changes: its files are made once per process (seconds for
    # a large dataset, and anyone may ask for them).
    with _TEMPLATES_LOCK:
        while len(_TEMPLATES) >= TEMPLATES_CACHED:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[key] = files
    return files


TEMPLATES_CACHED = 8
_TEMPLATES: dict[tuple[str, str, str], dict[str, str]] = {}
_TEMPLATES_LOCK = threading.Lock()


def zipped(files: dict[str, str]) -> bytes:
    """The template files in one zip; fixed timestamps, so the same report gives the same
    bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in dsa_labels.TEMPLATE_FILES:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), files[name])
    return out.getvalue()

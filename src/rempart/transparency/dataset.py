"""The public dataset of a report: every audit entry its figures are computed from, with
what could identify anyone taken out, each with its inclusion proof under the report's
signed head.

An entry is reduced to the fields the figures read (``FIELDS``, a list of what is kept,
so a field added to an entry later stays private until it is listed here). Identifiers
(orders, items, appeals, disputes, users) become keyed pseudonyms: HMAC-SHA256 under a key
of this report alone, so one identifier has one pseudonym inside a report and unrelated
ones in two reports. Actors (staff, authorities, systems) are dropped. The key is derived
from the installation's blind-index key and is never published.

The pseudonymised entry no longer hashes to its leaf: the inclusion proof shows that an
entry of that number and leaf hash is in the log under the head, and the report's
signature covers the dataset's root. Someone holding the database and the keys (an
auditor, ``transparency verify --against-log``) checks that each pseudonymised entry is
the reduction of the entry under its leaf.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit.batch import prove_inclusions
from rempart.audit.models import AuditEntry
from rempart.audit.personal import check_no_personal_data
from rempart.audit.schemas import SignedTreeHead
from rempart.core.crypto import KeyRing
from rempart.transparency import figures

KEY_PURPOSE = "transparency-report-key"
PSEUDONYM_HEX = 24
# Per action: the detail keys kept as they are, and those replaced by a pseudonym (a
# string, or each string of a list).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "legal.order.received": (
        ("order_type", "offence_category", "categories", "emergency", "items"),
        (),
    ),
    "legal.order.checked": (("status", "category_outcomes"), ()),
    "legal.order.reviewed": (("decision",), ()),
    "legal.order.decided": (("status", "category_outcomes"), ()),
    "legal.order.withdrawn": ((), ()),
    "legal.order.emergency_not_confirmed": (("reason", "disclosed"), ()),
    "legal.disclosure.released": (("accounts",), ("users",)),
    "legal.order.acted": (("order_type",), ()),
    # The category is the policy's ("spam"): the own-initiative figures count by it.
    "moderation.decision": (("action", "category", "ground_type", "automation"), ()),
    "moderation.item.restricted": (("category", "ground_type"), ()),
    "reports.received": (("by_category", "by_channel", "flagger_by_category"), ()),
    "reports.raid.suspected": ((), ()),
    "reports.appeal.filed": (("party",), ("appeal",)),
    "reports.appeal.decided": (("outcome", "outcomes"), ("appeal", "appeals")),
    "reports.dispute.submitted": ((), ("dispute",)),
    "reports.dispute.decided": (("outcome", "implemented"), ("dispute",)),
    "reports.reporter_warning": ((), ()),
    "reports.reporter_suspended": ((), ()),
    "reports.account_warning": ((), ()),
    "reports.account_suspended": ((), ()),
    "reports.complainant_warning": ((), ()),
    "reports.complainant_suspended": ((), ()),
    "platform.active_recipients": (("month", "recipients"), ()),
    "escalations.notification.sent": (("member_state", "hours_to_send"), ()),
    "hotline.report.sent": (("trigger",), ()),
}

# Detail keys published from a report format on: a report of an earlier format published
# its entries without them, and is checked against the log so.
ADDED_IN: dict[tuple[str, str], int] = {
    ("reports.received", "flagger_by_category"): 4,
    ("reports.appeal.decided", "outcomes"): 4,
    ("reports.appeal.decided", "appeals"): 4,
}


def report_key(keys: KeyRing, *, kind: str, period: str, tree_size: int) -> bytes:
    return keys.blind_index(f"{kind}|{period}|{tree_size}", purpose=KEY_PURPOSE)


def pseudonym(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def reduce(
    body: dict[str, Any], key: bytes, version: int = figures.FORMAT_VERSION
) -> dict[str, Any]:
    """The public form of one entry, in a report of this format."""
    action = str(body.get("action"))
    kept, hidden = (
        tuple(k for k in keys if ADDED_IN.get((action, k), 0) <= version) for keys in FIELDS[action]
    )
    details = body.get("details") or {}
    public: dict[str, Any] = {k: details[k] for k in kept if k in details}
    for name in hidden:
        value = details.get(name)
        if isinstance(value, list):
            public[name] = [pseudonym(key, str(v)) for v in value]
        elif value is not None:
            public[name] = pseudonym(key, str(value))
    target = body.get("target")
    entry = {
        "seq": body["seq"],
        "ts": body["ts"],
        "action": action,
        "country": body.get("country"),
        "target": pseudonym(key, str(target)) if target else None,
        "details": public,
    }
    check_no_personal_data(entry)
    return entry


def window_bodies(
    session: Session, *, kind: str, period: figures.Period, tree_size: int
) -> list[dict[str, Any]]:
    """The relevant entries from the report's window to its head, in log order."""
    rows = session.execute(
        select(AuditEntry.body)
        .where(
            AuditEntry.seq < tree_size,
            AuditEntry.action.in_(figures.RELEVANT_FOR[kind]),
            AuditEntry.recorded_at >= figures.window_start(kind, period),
        )
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=5000)
    ).scalars()
    return [json.loads(body) for body in rows]


def build(
    session: Session,
    *,
    keys: KeyRing,
    kind: str,
    period: figures.Period,
    head: SignedTreeHead,
    bodies: list[dict[str, Any]],
    version: int = figures.FORMAT_VERSION,
) -> dict[str, Any]:
    key = report_key(keys, kind=kind, period=period.name, tree_size=head.tree_size)
    leaf_hashes, paths = prove_inclusions(
        session, keys=keys, entries=[int(b["seq"]) for b in bodies], tree_size=head.tree_size
    )
    records = [
        {
            "seq": body["seq"],
            "leaf_hash": leaf_hashes[int(body["seq"])],
            "audit_path": paths[int(body["seq"])],
            "entry": reduce(body, key, version),
        }
        for body in bodies
    ]
    return {"kind": kind, "period": period.name, "head": head.model_dump(), "entries": records}

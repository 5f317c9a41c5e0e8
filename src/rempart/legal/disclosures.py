"""Disclosure packages: the approved targets' phone numbers and IP addresses, nothing else.

The package is built from two tables only, account identities (phone numbers) and
connections (IP, port, time). This module imports no other platform record, so no code
path leads from a post, a message or a profile to a disclosure; the record schema is
closed and ``DISCLOSABLE_FIELDS`` is a constant, not configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from rempart.core.clock import as_utc, now_of
from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.settings import Settings
from rempart.legal import callbacks, events, suspension
from rempart.legal.exceptions import (
    DisclosureNotReady,
    EmergencyNotConfirmed,
    FourEyesViolation,
    OrderChangedMeanwhile,
)
from rempart.legal.holds import release_holds
from rempart.legal.models import Authority, Disclosure, Notification, Order
from rempart.legal.schemas import (
    ORDER_TYPES_TO_ACT,
    Confirmation,
    DataCategory,
    OrderStatus,
    ReviewDecision,
)
from rempart.legal.trail import audit_order
from rempart.platform.models import AccountIdentity, Connection, LegalHold

DISCLOSABLE_FIELDS: Final = ("phone_number", "ip_addresses")
CATEGORY_FIELD: Final = {
    DataCategory.SUBSCRIBER.value: "phone_number",
    DataCategory.IDENTIFICATION.value: "ip_addresses",
}
PACKAGE_PURPOSE = "disclosure-package"
USER_REFERENCE_PURPOSE = "transparency-user"
PACKAGE_TYPE = "rempart-disclosure+jwt"
RELEASABLE = frozenset({OrderStatus.APPROVED, OrderStatus.PARTIALLY_APPROVED})


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhoneHeld(_Closed):
    number: str
    held_from: datetime
    held_until: datetime | None


class IpRecord(_Closed):
    address: str
    port: int | None
    timestamp: datetime


class DisclosedRecord(_Closed):
    """One target's data. Fields beyond ``DISCLOSABLE_FIELDS`` cannot exist here."""

    target_position: int
    phone_number: list[PhoneHeld] | None = None
    ip_addresses: list[IpRecord] | None = None


assert set(DisclosedRecord.model_fields) - {"target_position"} == set(DISCLOSABLE_FIELDS)


class DisclosurePackage(_Closed):
    version: int = 1
    order_reference: str
    case_reference: str
    authority: str
    country: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    category_outcomes: dict[str, dict[str, str]]
    records: list[DisclosedRecord]


class DisclosureDownload(BaseModel):
    order_reference: str
    sha256: str
    released_at: datetime
    # The package signed by the platform key (compact JWS, EdDSA), and its content.
    signed_package: str
    platform_public_key: str
    # Exactly what was signed: the package without empty fields.
    package: dict[str, Any]


def _phones(
    session: Session, *, keys: KeyRing, user_id: str, start: datetime, end: datetime
) -> list[PhoneHeld]:
    later = aliased(AccountIdentity)
    valid_until = (
        select(func.min(later.valid_from))
        .where(
            later.user_id == AccountIdentity.user_id, later.valid_from > AccountIdentity.valid_from
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(AccountIdentity.phone_ciphertext, AccountIdentity.valid_from, valid_until)
        .where(
            AccountIdentity.user_id == user_id,
            AccountIdentity.phone_ciphertext.is_not(None),
            AccountIdentity.valid_from <= end,
            or_(valid_until.is_(None), valid_until > start),
        )
        .order_by(AccountIdentity.valid_from)
    ).all()
    held: list[PhoneHeld] = []
    # An account may hold several numbers at once (one identity row each, same time).
    last: dict[str, int] = {}
    for blob, since, until in rows:
        assert blob is not None  # filtered in the query
        number = keys.decrypt(blob, purpose="phone")
        since_utc = as_utc(since)
        until_utc = as_utc(until) if until is not None else None
        position = last.get(number)
        if position is not None and held[position].held_until == since_utc:
            # Consecutive snapshots with the same number are one holding.
            held[position] = held[position].model_copy(update={"held_until": until_utc})
            continue
        last[number] = len(held)
        held.append(PhoneHeld(number=number, held_from=since_utc, held_until=until_utc))
    return held


def _addresses(
    session: Session,
    *,
    keys: KeyRing,
    order: Order,
    user_id: str,
    retention_days: int,
    now: datetime,
) -> list[IpRecord]:
    cutoff = now - timedelta(days=retention_days)
    held = exists().where(
        and_(
            LegalHold.user_id == Connection.user_id,
            LegalHold.reference.in_(
                [r for r in (order.reference, order.preservation_reference) if r]
            ),
            LegalHold.period_start <= Connection.seen_at,
            LegalHold.period_end >= Connection.seen_at,
        )
    )
    rows = session.execute(
        select(Connection.ip_ciphertext, Connection.port, Connection.seen_at)
        .where(
            Connection.user_id == user_id,
            Connection.seen_at >= order.period_start,
            Connection.seen_at <= order.period_end,
            # Inside retention, or kept past it by a hold that serves this very order.
            or_(Connection.seen_at >= cutoff, held),
        )
        .order_by(Connection.seen_at, Connection.id)
    ).all()
    return [
        IpRecord(address=keys.decrypt(blob, purpose="ip"), port=port, timestamp=as_utc(seen))
        for blob, port, seen in rows
    ]


def build_package(
    session: Session, *, order: Order, keys: KeyRing, settings: Settings, now: datetime
) -> DisclosurePackage:
    approved = {
        CATEGORY_FIELD[c]
        for c, o in order.category_outcomes.items()
        if o["status"] == "approved" and c in CATEGORY_FIELD
    }
    start, end = as_utc(order.period_start), as_utc(order.period_end)
    records = []
    for target in order.targets:
        if not target.approved or target.user_id is None:
            continue
        fields: dict[str, Any] = {}
        if "phone_number" in approved:
            fields["phone_number"] = _phones(
                session, keys=keys, user_id=target.user_id, start=start, end=end
            )
        if "ip_addresses" in approved:
            fields["ip_addresses"] = _addresses(
                session,
                keys=keys,
                order=order,
                user_id=target.user_id,
                retention_days=settings.ip_retention_days,
                now=now,
            )
        records.append(DisclosedRecord(target_position=target.position, **fields))
    authority = session.get(Authority, order.authority_id)
    assert authority is not None
    return DisclosurePackage(
        order_reference=order.reference,
        case_reference=order.case_reference,
        authority=authority.code,
        country=order.country,
        period_start=start,
        period_end=end,
        generated_at=now,
        category_outcomes=order.category_outcomes,
        records=records,
    )


def _require_four_eyes(order: Order) -> None:
    approvers = {r.reviewer_id for r in order.reviews if r.decision == ReviewDecision.APPROVE}
    if len(approvers) < 2 and not (order.emergency and approvers):
        raise FourEyesViolation("A disclosure needs two approvals by two legal reviewers.")


def _refuse_order_to_act(order: Order) -> None:
    """An order to act or a removal order asks the platform to act, never to disclose:
    whatever its status, it can release no data."""
    if order.order_type in ORDER_TYPES_TO_ACT:
        raise DisclosureNotReady(
            "An order to act or a removal order discloses no data.", code="order_discloses_nothing"
        )


def preview_package(
    session: Session, *, order: Order, keys: KeyRing, settings: Settings
) -> dict[str, Any]:
    """Exactly what release would send, for the reviewers to see first: built in a read
    (its records decrypted with no write lock held); :func:`record_preview` audits it."""
    _refuse_order_to_act(order)
    if order.status not in RELEASABLE:
        raise DisclosureNotReady(f"An order that is {order.status} has nothing to disclose.")
    package = build_package(session, order=order, keys=keys, settings=settings, now=now_of(session))
    shown: dict[str, Any] = json.loads(_canonical(package))
    return shown


def record_preview(session: Session, *, order: Order, actor: str) -> None:
    """The preview is an audited read: its entry, in a short write of its own."""
    audit_order(session, order, events.DisclosurePreviewed(), actor=actor)


def _canonical(package: DisclosurePackage) -> bytes:
    return json.dumps(
        package.model_dump(mode="json", exclude_none=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _sign(payload: bytes, keys: KeyRing) -> str:
    from joserfc import jws as jose_jws  # loaded with the first package, not at start-up
    from joserfc.jwk import OKPKey

    key = OKPKey.import_key(keys.signing_key)
    header = {"alg": "EdDSA", "kid": keys.log_id, "typ": PACKAGE_TYPE}
    return str(jose_jws.serialize_compact(header, payload, key, algorithms=["EdDSA"]))


def _ensure_emergency_still_backed(order: Order) -> None:
    if order.confirmation == Confirmation.NOT_CONFIRMED or order.validation_flagged_at:
        raise EmergencyNotConfirmed(
            "This emergency order was not confirmed in time (second review within 24 hours, "
            "judicial validation within 48 hours): it can no longer be released."
        )


def _check_releasable(session: Session, order: Order) -> None:
    _refuse_order_to_act(order)
    if order.status not in RELEASABLE:
        raise DisclosureNotReady(f"An order that is {order.status} cannot be disclosed.")
    _require_four_eyes(order)
    _ensure_emergency_still_backed(order)
    suspension.ensure_not_on_hold(session, order=order)
    callbacks.ensure_confirmed(order)


def _decided(order: Order) -> tuple[Any, ...]:
    """What an order's package is built from, besides the records themselves."""
    return (
        order.id,
        order.status,
        json.dumps(order.category_outcomes, sort_keys=True),
        tuple(sorted((t.position, t.approved, t.user_id) for t in order.targets)),
    )


@dataclass(frozen=True)
class SealedRelease:
    """An order's package, built from a read of it, then signed and encrypted with no
    transaction open: what :func:`release` stores if the order is as it was read."""

    decided: tuple[Any, ...]
    package: DisclosurePackage
    signed: str
    digest: str
    ciphertext: bytes


@dataclass(frozen=True)
class ReleaseDraft:
    decided: tuple[Any, ...]
    package: DisclosurePackage


def draft_release(
    session: Session, *, order: Order, keys: KeyRing, settings: Settings
) -> ReleaseDraft:
    """The read before a release: the order may be released, and its package (every record
    of the period decrypted, which for a long period is thousands of rows)."""
    _check_releasable(session, order)
    package = build_package(session, order=order, keys=keys, settings=settings, now=now_of(session))
    return ReleaseDraft(_decided(order), package)


def seal_release(draft: ReleaseDraft, *, keys: KeyRing) -> SealedRelease:
    """Sign and encrypt the package, with no transaction open."""
    payload = _canonical(draft.package)
    signed = _sign(payload, keys)
    return SealedRelease(
        decided=draft.decided,
        package=draft.package,
        signed=signed,
        digest=hashlib.sha256(payload).hexdigest(),
        ciphertext=keys.encrypt(signed, purpose=PACKAGE_PURPOSE),
    )


def release(
    session: Session,
    *,
    order: Order,
    sealed: SealedRelease,
    keys: KeyRing,
    caller_id: int,
    actor: str,
) -> datetime:
    """The short write of a release: checks again that the order may be released and is as
    it was when its package was built (a second release, a withdrawal, a suspension or a
    review since is refused), then stores the sealed package. Returns when it was
    released."""
    _check_releasable(session, order)
    if _decided(order) != sealed.decided:
        raise OrderChangedMeanwhile(
            "The order changed while its package was being prepared; look at it again."
        )
    package, digest = sealed.package, sealed.digest
    now = now_of(session)
    session.add(
        Disclosure(
            order_id=order.id,
            package_ciphertext=sealed.ciphertext,
            sha256=digest,
            released_by=caller_id,
            released_at=now,
            downloads=0,
        )
    )
    order.status = OrderStatus.DISCLOSED.value
    order.effected_at = now
    release_holds(session, order=order, now=now)
    due = max(now, as_utc(order.confidential_until)) if order.confidential_until else now
    for user_id in sorted({t.user_id for t in order.targets if t.approved and t.user_id}):
        session.add(Notification(order_id=order.id, user_id=user_id, due_at=due))
    audit_order(
        session,
        order,
        events.DisclosureReleased(
            sha256=digest,
            fields=sorted(
                {
                    f
                    for r in package.records
                    for f in DISCLOSABLE_FIELDS
                    if getattr(r, f) is not None
                }
            ),
            accounts=len(package.records),
            users=sorted(
                keys.blind_index(u, purpose=USER_REFERENCE_PURPOSE).hex()
                for u in {t.user_id for t in order.targets if t.approved and t.user_id}
            ),
            ip_records=sum(len(r.ip_addresses or []) for r in package.records),
            notification_due_at=due.isoformat(),
        ),
        actor=actor,
    )
    session.flush()
    return now


def released_download(
    sealed: SealedRelease, *, released_at: datetime, keys: KeyRing
) -> DisclosureDownload:
    """What :func:`release` stored, as the authority downloads it."""
    return _download_of(
        sealed.package.order_reference, sealed.signed, sealed.digest, released_at, keys
    )


def _download_of(
    reference: str, signed: str, digest: str, released_at: datetime, keys: KeyRing
) -> DisclosureDownload:
    from joserfc import jws as jose_jws

    payload = jose_jws.extract_compact(signed.encode()).payload
    return DisclosureDownload(
        order_reference=reference,
        sha256=digest,
        released_at=as_utc(released_at),
        signed_package=signed,
        platform_public_key=keys.public_key_bytes.hex(),
        package=json.loads(payload),
    )


@dataclass(frozen=True)
class StoredDisclosure:
    """A released package as stored (encrypted): what a download counted and audited, to
    open (:func:`opened`) once its transaction has committed."""

    reference: str
    ciphertext: bytes
    sha256: str
    released_at: datetime


def download(session: Session, *, order: Order, actor: str) -> StoredDisclosure:
    """Count and audit one download of the released package (a short write); the package
    is decrypted and read by :func:`opened`, with no transaction open."""
    stored = session.get(Disclosure, order.id)
    if stored is None:
        raise DisclosureNotReady("Nothing has been disclosed for this order.")
    suspension.ensure_not_on_hold(session, order=order)
    stored.downloads += 1
    audit_order(
        session,
        order,
        events.DisclosureDownloaded(sha256=stored.sha256, download=stored.downloads),
        actor=actor,
    )
    return StoredDisclosure(
        order.reference, stored.package_ciphertext, stored.sha256, stored.released_at
    )


def opened(stored: StoredDisclosure, *, keys: KeyRing) -> DisclosureDownload:
    signed = keys.decrypt(stored.ciphertext, purpose=PACKAGE_PURPOSE)
    return _download_of(stored.reference, signed, stored.sha256, stored.released_at, keys)


_templates = Environment(
    loader=PackageLoader("rempart.legal", "templates"),
    autoescape=select_autoescape(["html"]),
)


def render_html(download: DisclosureDownload, *, json_url: str | None = None) -> str:
    """The package for people to read and print; ``json_url`` links the signed JSON where
    the reader's browser can fetch it (the console), not where it needs an API token."""
    return _templates.get_template("disclosure.html").render(d=download, json_url=json_url)


register_encrypted_column(
    Disclosure, Disclosure.order_id, Disclosure.package_ciphertext, PACKAGE_PURPOSE
)

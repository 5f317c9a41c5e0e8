"""The registry of judicial authorities and their signing keys.

Each authority gets a principal of its own that submits its orders; an order is accepted
only when that principal sends it and one of the authority's keys signed it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth import enrolment, grants
from rempart.auth import service as auth
from rempart.auth.exceptions import FourEyesRequired, ProposalClosed
from rempart.auth.permissions import Role
from rempart.auth.schemas import (
    AuthorityKeyProposal,
    AuthorityVerificationProposal,
    ProposalCreate,
    ProposalKind,
)
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.settings import Settings
from rempart.legal import events, jws, suspension
from rempart.legal.exceptions import AuthorityExists, AuthorityNotFound, InvalidAuthority, KeyExists
from rempart.legal.models import Authority, AuthorityKey
from rempart.legal.schemas import (
    JUDICIAL_KINDS,
    AuthorityCreate,
    AuthorityCreated,
    AuthorityKeyCreate,
    AuthorityKeyRead,
    AuthorityKind,
    AuthorityRead,
    AuthorityStatus,
    Competence,
)


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    """ISO 3166 alpha-2 codes; phonenumbers loads on first use, not at start-up."""
    import phonenumbers

    return frozenset(r for r in phonenumbers.SUPPORTED_REGIONS if len(r) == 2)


def find_key(session: Session, *, kid: str) -> AuthorityKey | None:
    key: AuthorityKey | None = session.execute(
        select(AuthorityKey).where(AuthorityKey.kid == kid)
    ).scalar_one_or_none()
    return key


def by_code(session: Session, *, code: str) -> Authority | None:
    authority: Authority | None = session.execute(
        select(Authority).where(Authority.code == code)
    ).scalar_one_or_none()
    return authority


def authority_of_principal(session: Session, *, principal_id: int) -> Authority | None:
    authority: Authority | None = session.execute(
        select(Authority).where(Authority.principal_id == principal_id)
    ).scalar_one_or_none()
    return authority


def _get(session: Session, *, code: str) -> Authority:
    authority = by_code(session, code=code)
    if authority is None:
        raise AuthorityNotFound("No authority has this code.")
    return authority


def _timezone(country: str, requested: str | None) -> str:
    if requested:
        try:
            ZoneInfo(requested)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidAuthority(
                "The timezone must be an IANA name such as Europe/Paris.", code="invalid_timezone"
            ) from None
        return requested
    # The zone of the country's example number: right for single-zone countries, and a
    # sensible default (the capital's, usually) for the others.
    import phonenumbers
    from phonenumbers import timezone as phone_timezones

    example = phonenumbers.example_number(country)
    zones = phone_timezones.time_zones_for_number(example) if example else ()
    known = [z for z in zones if z != "Etc/Unknown"]
    return known[0] if known else "UTC"


def to_read(session: Session, *, authority: Authority) -> AuthorityRead:
    parent = session.get(Authority, authority.parent_id) if authority.parent_id else None
    return AuthorityRead(
        code=authority.code,
        name=authority.name,
        country=authority.country,
        kind=AuthorityKind(authority.kind),
        parent=parent.code if parent else None,
        contact=authority.contact,
        contact_changed_at=(
            as_utc(authority.contact_changed_at) if authority.contact_changed_at else None
        ),
        timezone=authority.timezone,
        status=AuthorityStatus(authority.status),
        keys=[_key_read(k) for k in authority.keys],
        created_at=as_utc(authority.created_at),
        competences=[Competence(c) for c in authority.competences or []],
    )


def _key_read(key: AuthorityKey) -> AuthorityKeyRead:
    return AuthorityKeyRead(
        kid=key.kid,
        valid_from=as_utc(key.valid_from),
        valid_until=as_utc(key.valid_until) if key.valid_until else None,
        revoked_at=as_utc(key.revoked_at) if key.revoked_at else None,
    )


def add_authority(
    session: Session,
    *,
    data: AuthorityCreate,
    actor: str,
    settings: Settings,
    proposer: Caller | None = None,
    bootstrap: bool = False,
) -> AuthorityCreated:
    """Register an authority, pending, with the enrolment code its principal redeems for
    its own token. ``verified`` files a verification proposal by ``proposer`` that another
    admin confirms; only the demo's bootstrap (``bootstrap=True``) verifies at once."""
    country = data.country.upper()
    if country not in countries():
        raise InvalidAuthority(
            "The country must be an ISO 3166 alpha-2 code.", code="invalid_country"
        )
    if by_code(session, code=data.code) is not None:
        raise AuthorityExists("An authority already has this code.")
    if data.verified and proposer is None and not bootstrap:
        raise FourEyesRequired(
            "Verifying an authority needs two admins: register it, then have one admin "
            "propose its verification and another confirm it (API or console)."
        )
    parent = _get(session, code=data.parent) if data.parent else None
    if data.kind is AuthorityKind.POLICE:
        if parent is None or parent.kind not in JUDICIAL_KINDS:
            raise InvalidAuthority(
                "A police authority must name its judicial authority (a court, investigating "
                "judge or prosecutor) as parent.",
                code="parent_required",
            )
    elif parent is not None:
        raise InvalidAuthority("Only police authorities have a parent.", code="unexpected_parent")
    now = now_of(session)
    issued = enrolment.open_enrolment(
        session, role=Role.AUTHORITY, name=f"authority:{data.code}", settings=settings, actor=actor
    )
    principal = auth.by_name(session, name=issued.principal)
    assert principal is not None  # just created
    authority = Authority(
        code=data.code,
        name=data.name,
        country=country,
        kind=data.kind.value,
        parent_id=parent.id if parent else None,
        contact=data.contact,
        timezone=_timezone(country, data.timezone),
        status=(
            AuthorityStatus.VERIFIED if data.verified and bootstrap else AuthorityStatus.PENDING
        ).value,
        principal_id=principal.id,
        created_at=now,
        updated_at=now,
        competences=sorted({c.value for c in data.competences}),
    )
    session.add(authority)
    session.flush()
    audit.record(
        session,
        events.AuthorityCreated(
            kind=authority.kind,
            status=authority.status,
            parent=data.parent,
            competences=authority.competences,
        ),
        actor=actor,
        target=f"authority:{authority.code}",
        country=country,
    )
    for key in data.keys:
        _add_key(session, authority=authority, data=key, actor=actor)
    session.flush()
    session.expire(authority, ["keys"])
    proposal = None
    if data.verified and proposer is not None:
        proposal = grants.propose(
            session,
            data=AuthorityVerificationProposal(
                kind=ProposalKind.AUTHORITY_VERIFICATION, authority=authority.code
            ),
            caller=proposer,
            settings=settings,
        )
    return AuthorityCreated(
        authority=to_read(session, authority=authority), enrolment=issued, verification=proposal
    )


def _check_key(session: Session, *, data: AuthorityKeyCreate) -> tuple[str, bytes]:
    kid = data.jwk.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 128:
        raise InvalidAuthority("The key needs a kid of 1 to 128 characters.", code="invalid_key")
    if "d" in data.jwk:
        raise InvalidAuthority(
            "This is a private key: send only the public part.", code="private_key_sent"
        )
    try:
        raw = jws.public_key_bytes(data.jwk)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidAuthority(
            "The key must be an Ed25519 public key in JWK form.", code="invalid_key"
        ) from exc
    if data.valid_until and data.valid_from and data.valid_until <= data.valid_from:
        raise InvalidAuthority("A key's validity must end after it starts.", code="invalid_key")
    if find_key(session, kid=kid) is not None:
        raise KeyExists("A key with this kid is already registered.")
    return kid, raw


def _add_key(
    session: Session, *, authority: Authority, data: AuthorityKeyCreate, actor: str
) -> AuthorityKey:
    kid, raw = _check_key(session, data=data)
    now = now_of(session)
    key = AuthorityKey(
        authority_id=authority.id,
        kid=kid,
        public_key=raw,
        valid_from=data.valid_from or now,
        valid_until=data.valid_until,
        created_at=now,
    )
    session.add(key)
    audit.record(
        session,
        events.AuthorityKeyAdded(kid=kid),
        actor=actor,
        target=f"authority:{authority.code}",
        country=authority.country,
    )
    return key


def add_key(
    session: Session, *, code: str, data: AuthorityKeyCreate, actor: str
) -> AuthorityKeyRead:
    """A key for an authority still pending verification (the verification covers it).
    Once an authority is verified or suspended, a new key is a way to sign its orders:
    it needs a second admin (a grant proposal)."""
    authority = _get(session, code=code)
    if authority.status != AuthorityStatus.PENDING:
        raise FourEyesRequired(
            "Adding a key to this authority needs two admins: propose it (POST "
            "/v1/auth/proposals, kind authority_key) and have another admin confirm it."
        )
    key = _add_key(session, authority=authority, data=data, actor=actor)
    session.flush()
    return _key_read(key)


def check_new_key(
    session: Session,
    *,
    code: str,
    jwk: dict[str, Any],
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> str:
    """The kid of a key that may be proposed for ``code``."""
    _get(session, code=code)
    data = AuthorityKeyCreate(jwk=jwk, valid_from=valid_from, valid_until=valid_until)
    return _check_key(session, data=data)[0]


def apply_key(session: Session, *, code: str, payload: dict[str, Any], actor: str) -> None:
    """Add a key as a second admin confirmed it."""
    authority = _get(session, code=code)
    data = AuthorityKeyCreate(
        jwk=payload["jwk"],
        valid_from=payload.get("valid_from"),
        valid_until=payload.get("valid_until"),
    )
    _add_key(session, authority=authority, data=data, actor=actor)
    session.flush()


def _live_kids(authority: Authority) -> list[str]:
    return sorted(k.kid for k in authority.keys if k.revoked_at is None)


def verification_snapshot(session: Session, *, code: str) -> list[str]:
    """The keys a verification proposal vouches for; the second admin approves exactly
    these, so a key slipped in between proposal and confirmation voids it."""
    authority = _get(session, code=code)
    if authority.status == AuthorityStatus.VERIFIED:
        raise InvalidAuthority("This authority is already verified.", code="already_verified")
    return _live_kids(authority)


def apply_verification(session: Session, *, code: str, keys: list[str], actor: str) -> None:
    authority = _get(session, code=code)
    session.refresh(authority, ["keys"])
    if _live_kids(authority) != sorted(keys):
        raise ProposalClosed(
            "The authority's keys changed since the proposal: propose it again.",
            code="proposal_stale",
        )
    _apply_status(session, authority=authority, status=AuthorityStatus.VERIFIED, actor=actor)


def revoke_key(session: Session, *, kid: str, actor: str) -> AuthorityKeyRead:
    key = find_key(session, kid=kid)
    if key is None:
        raise AuthorityNotFound("No key has this kid.", code="key_not_found")
    if key.revoked_at is None:
        key.revoked_at = now_of(session)
        audit.record(
            session,
            events.AuthorityKeyRevoked(kid=kid),
            actor=actor,
            target=f"authority:{key.authority.code}",
            country=key.authority.country,
        )
        session.flush()
        suspension.refresh_holds(session, authority_id=key.authority_id, actor=actor)
    session.flush()
    return _key_read(key)


def set_status(
    session: Session, *, code: str, status: AuthorityStatus, actor: str
) -> AuthorityRead:
    """Suspend an authority or put it back to pending: protective, one admin suffices.
    Verifying (or reinstating) needs two admins (a grant proposal)."""
    authority = _get(session, code=code)
    if status is AuthorityStatus.VERIFIED and authority.status != status.value:
        raise FourEyesRequired(
            "Verifying or reinstating an authority needs two admins: propose it (POST "
            "/v1/auth/proposals, kind authority_verification) and have another admin "
            "confirm it."
        )
    _apply_status(session, authority=authority, status=status, actor=actor)
    return to_read(session, authority=authority)


def _apply_status(
    session: Session, *, authority: Authority, status: AuthorityStatus, actor: str
) -> None:
    if authority.status != status.value:
        audit.record(
            session,
            events.AuthorityStatusChanged(from_=authority.status, to=status.value),
            actor=actor,
            target=f"authority:{authority.code}",
            country=authority.country,
        )
        authority.status = status.value
        authority.updated_at = now_of(session)
        session.flush()
        suspension.refresh_holds(session, authority_id=authority.id, actor=actor)
    session.flush()


def set_contact(session: Session, *, code: str, contact: str, actor: str) -> AuthorityRead:
    """The contact reviewers call back to confirm orders: changing it is what an impostor
    would do first, so the change is dated and flags the orders that follow."""
    authority = _get(session, code=code)
    if authority.contact != contact:
        now = now_of(session)
        audit.record(
            session,
            events.AuthorityContactChanged(changed_at=now.isoformat()),
            actor=actor,
            target=f"authority:{authority.code}",
            country=authority.country,
        )
        authority.contact = contact
        authority.contact_changed_at = authority.updated_at = now
    session.flush()
    return to_read(session, authority=authority)


def list_authorities(session: Session, *, country: str | None = None) -> list[AuthorityRead]:
    query = select(Authority).order_by(Authority.country, Authority.code)
    if country:
        query = query.where(Authority.country == country.upper())
    return [to_read(session, authority=a) for a in session.execute(query).scalars()]


def get_authority(session: Session, *, code: str) -> AuthorityRead:
    return to_read(session, authority=_get(session, code=code))


def my_authority(session: Session, *, principal_id: int) -> AuthorityRead:
    authority = authority_of_principal(session, principal_id=principal_id)
    if authority is None:
        raise AuthorityNotFound("This principal acts for no registered authority.")
    return to_read(session, authority=authority)


class _VerificationProposals:
    """Verifying (or reinstating) an authority takes two admins (auth/grants.py)."""

    def subject_and_payload(
        self, session: Session, data: ProposalCreate
    ) -> tuple[str, dict[str, Any]]:
        assert isinstance(data, AuthorityVerificationProposal)
        kids = verification_snapshot(session, code=data.authority)
        return data.authority, {"authority": data.authority, "keys": kids}

    def apply(self, session: Session, *, payload: dict[str, Any], actor: str) -> None:
        apply_verification(session, code=payload["authority"], keys=payload["keys"], actor=actor)


class _KeyProposals:
    """Adding a key to an authority that is no longer pending takes two admins."""

    def subject_and_payload(
        self, session: Session, data: ProposalCreate
    ) -> tuple[str, dict[str, Any]]:
        assert isinstance(data, AuthorityKeyProposal)
        key = check_new_key(
            session,
            code=data.authority,
            jwk=data.jwk,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
        )
        return data.authority, {
            "authority": data.authority,
            "kid": key,
            "jwk": data.jwk,
            "valid_from": data.valid_from.isoformat() if data.valid_from else None,
            "valid_until": data.valid_until.isoformat() if data.valid_until else None,
        }

    def apply(self, session: Session, *, payload: dict[str, Any], actor: str) -> None:
        apply_key(session, code=payload["authority"], payload=payload, actor=actor)


grants.register_proposal_kind(ProposalKind.AUTHORITY_VERIFICATION, _VerificationProposals())
grants.register_proposal_kind(ProposalKind.AUTHORITY_KEY, _KeyProposals())

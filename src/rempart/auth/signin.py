"""Password + TOTP sign-in, lock-out, and sessions, for the console and the portals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth import enrolment, events
from rempart.auth.exceptions import EnrolmentInvalid, LoginNotFound, Unauthenticated
from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.auth.schemas import EnrolmentIssued, LoginRead
from rempart.auth.service import Caller
from rempart.auth.signin_models import WebLogin, WebSession
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.db import transaction
from rempart.core.errors import Conflict, Invalid
from rempart.core.settings import Settings

TOTP_PURPOSE = "web.totp"
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=8)
ISSUER = "Rempart"
MIN_PASSWORD = 12
_hasher = PasswordHasher()


class LoginExists(Conflict):
    code = "login_exists"


class WeakPassword(Invalid):
    code = "weak_password"


class SignInFailed(Unauthenticated):
    code = "sign_in_failed"


class LockedOut(Unauthenticated):
    code = "locked_out"


@dataclass(frozen=True)
class NewLogin:
    username: str
    password: str
    totp_secret: str

    @property
    def otpauth_uri(self) -> str:
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.username, issuer_name=ISSUER)


@dataclass(frozen=True)
class LoginSecrets:
    password: str
    password_hash: str
    totp_secret: str


def new_login_secrets(password: str | None = None) -> LoginSecrets:
    """A login's password (generated when not given), its hash and a TOTP secret. Hashing is
    slow on purpose: a caller that creates logins in bulk makes these before its write
    transaction opens, so that the write lock is not held while hashing."""
    password = password or secrets.token_urlsafe(12)
    return LoginSecrets(password, _hasher.hash(password), pyotp.random_base32())


def create_login(
    session: Session,
    keys: KeyRing,
    *,
    principal: Principal,
    username: str,
    password: str | None,
    actor: str,
    now: datetime,
    prepared: LoginSecrets | None = None,
) -> NewLogin:
    if session.execute(
        select(WebLogin.id).where(
            (WebLogin.username == username) | (WebLogin.principal_id == principal.id)
        )
    ).first():
        raise LoginExists("This principal or username already has a login.")
    made = prepared or new_login_secrets(password)
    session.add(
        WebLogin(
            principal_id=principal.id,
            username=username,
            password_hash=made.password_hash,
            totp_ciphertext=keys.encrypt_bytes(made.totp_secret.encode(), purpose=TOTP_PURPOSE),
            failed_attempts=0,
            last_totp_step=0,
            created_at=now,
        )
    )
    audit.record(
        session,
        events.LoginCreated(username=username),
        actor=actor,
        target=f"principal:{principal.id}",
    )
    return NewLogin(username, made.password, made.totp_secret)


@dataclass(frozen=True)
class PasswordCheck:
    """A password checked against the hash a login had when it was read."""

    password_hash: str | None
    ok: bool


def check_password(engine: Engine, *, username: str, password: str) -> PasswordCheck:
    """Read the login's hash, then check the password with no transaction open: the check
    is slow on purpose, and SQLite's write lock must not wait for it. An unknown username
    costs the same work (no timing oracle)."""
    with transaction(engine, readonly=True) as session:
        stored = session.execute(
            select(WebLogin.password_hash).where(WebLogin.username == username)
        ).scalar_one_or_none()
    if stored is None:
        _hasher.hash(password)
        return PasswordCheck(None, ok=False)
    return PasswordCheck(stored, ok=_password_ok(stored, password))


def sign_in(
    session: Session,
    keys: KeyRing,
    *,
    username: str,
    password: str,
    code: str,
    now: datetime,
    checked: PasswordCheck | None = None,
) -> tuple[str, Caller]:
    """A new session token for the right password and a fresh TOTP code. Every failure says
    the same thing; five in a row lock the login for fifteen minutes. ``checked`` is the
    password's check made before the transaction (:func:`check_password`); it counts only
    if the login's hash has not changed since."""
    login = session.execute(
        select(WebLogin).where(WebLogin.username == username)
    ).scalar_one_or_none()
    if login is None:
        if checked is None:
            _hasher.hash(password)  # the same work as a real check: no timing oracle
        raise SignInFailed("Wrong username, password or code.")
    if login.locked_until is not None and as_utc(login.locked_until) > now:
        raise LockedOut("Too many failed attempts: try again in a few minutes.")
    secret = keys.decrypt_bytes(login.totp_ciphertext, purpose=TOTP_PURPOSE).decode()
    step = int(now.timestamp()) // 30
    totp = pyotp.TOTP(secret)
    matched = next(
        (s for s in (step, step - 1, step + 1) if secrets.compare_digest(totp.at(s * 30), code)),
        None,
    )
    password_ok = (
        checked.ok
        if checked is not None and checked.password_hash == login.password_hash
        else _password_ok(login.password_hash, password)
    )
    if (
        not password_ok
        or matched is None
        or matched <= login.last_totp_step
        or login.status != "active"
    ):
        login.failed_attempts += 1
        if login.failed_attempts >= MAX_FAILURES:
            login.locked_until = now + LOCK_FOR
            login.failed_attempts = 0
        audit.record(
            session,
            events.SignInFailed(
                locked=login.locked_until is not None and as_utc(login.locked_until) > now
            ),
            actor="web",
            target=f"principal:{login.principal_id}",
        )
        raise SignInFailed("Wrong username, password or code.")
    login.failed_attempts = 0
    login.last_totp_step = matched
    principal = session.get(Principal, login.principal_id)
    if principal is None or principal.status != "active":
        raise SignInFailed("Wrong username, password or code.")
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_hash(token),
            principal_id=principal.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_MAX,
        )
    )
    audit.record(session, events.SignedIn(), actor=f"principal:{principal.id}")
    return token, Caller(principal_id=principal.id, name=principal.name, role=Role(principal.role))


def caller_of(session: Session, *, token: str | None, now: datetime) -> Caller | None:
    """The signed-in principal, or None when the session is unknown, idle or expired."""
    if not token:
        return None
    row = session.get(WebSession, _hash(token))
    if row is None:
        return None
    if as_utc(row.expires_at) <= now or now - as_utc(row.last_seen_at) > SESSION_IDLE:
        session.delete(row)
        return None
    principal = session.get(Principal, row.principal_id)
    if principal is None or principal.status != "active":
        return None
    row.last_seen_at = now
    return Caller(principal_id=principal.id, name=principal.name, role=Role(principal.role))


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _login(session: Session, username: str) -> WebLogin:
    login = session.execute(
        select(WebLogin).where(WebLogin.username == username)
    ).scalar_one_or_none()
    if login is None:
        raise LoginNotFound("No console login has this username.")
    return login


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"Choose a password of at least {MIN_PASSWORD} characters.")


@dataclass(frozen=True)
class EnrolmentAttempt:
    """What an enrolment form decides before its write transaction: what the code is for,
    and the password's slow work, done with no transaction open. The write re-checks the
    rest: the code is spent by one conditional update (single use), and a reset's check
    counts only if the login's hash is the one checked."""

    purpose: str
    # A new login: the chosen password, hashed.
    prepared: LoginSecrets | None = None
    # A TOTP reset: the password checked against the login's hash.
    checked: PasswordCheck | None = None


def prepare_enrolment(
    engine: Engine, *, code: str, second_code: str | None, username: str, password: str
) -> EnrolmentAttempt:
    """Read what the code is for, then hash the chosen password (a new login) or check the
    existing one (a TOTP reset) with no transaction open: argon2 is slow on purpose, and
    SQLite's write lock must not wait for it. A code that is unknown, spent or expired is
    refused before any hashing (a flood of made-up codes costs reads only)."""
    with transaction(engine, readonly=True) as session:
        # The two halves of a privileged grant's code may come in either field.
        purpose = enrolment.purpose_of(session, code=code) or (
            enrolment.purpose_of(session, code=second_code) if second_code else None
        )
    if purpose is None:
        raise EnrolmentInvalid("This code is unknown, already used or expired; ask for a new one.")
    if purpose == enrolment.TOTP_RESET:
        return EnrolmentAttempt(
            purpose, checked=check_password(engine, username=username, password=password)
        )
    _check_password(password)
    return EnrolmentAttempt(purpose, prepared=new_login_secrets(password))


def complete_enrolment(
    session: Session,
    keys: KeyRing,
    *,
    attempt: EnrolmentAttempt,
    code: str,
    second_code: str | None,
    username: str,
    password: str,
    now: datetime,
) -> NewLogin:
    """The short write of an enrolment form prepared by :func:`prepare_enrolment`."""
    if attempt.purpose == enrolment.TOTP_RESET:
        return reset_totp(
            session,
            keys,
            code=code,
            username=username,
            password=password,
            now=now,
            checked=attempt.checked,
        )
    return enrol(
        session,
        keys,
        code=code,
        username=username,
        password=password,
        now=now,
        second_code=second_code,
        prepared=attempt.prepared,
    )


def enrol(
    session: Session,
    keys: KeyRing,
    *,
    code: str,
    username: str,
    password: str,
    now: datetime,
    second_code: str | None = None,
    prepared: LoginSecrets | None = None,
) -> NewLogin:
    """The person redeems their enrolment code (both halves, for a privileged role) for
    their own console login: they choose the password, and the TOTP secret is shown to
    them alone. ``prepared`` is that password hashed before the transaction."""
    _check_password(password)
    if session.execute(select(WebLogin.id).where(WebLogin.username == username)).first():
        raise LoginExists("This username is taken; choose another.")
    # One conditional update: of two enrolments racing with the same code, one wins.
    principal = enrolment.claim(
        session, code=code, purpose=enrolment.ENROL, second_code=second_code
    )
    return create_login(
        session,
        keys,
        principal=principal,
        username=username,
        password=password,
        actor=f"principal:{principal.id}",
        now=now,
        prepared=prepared,
    )


def reset_totp(
    session: Session,
    keys: KeyRing,
    *,
    code: str,
    username: str,
    password: str,
    now: datetime,
    checked: PasswordCheck | None = None,
) -> NewLogin:
    """A new second factor, set by the person with the reset code AND their own password:
    the admin who issued the code cannot use it to sign in as them. ``checked`` is the
    password's check made before the transaction (:func:`check_password`); it counts only
    if it was made against this login's hash, else the attempt fails."""
    principal = enrolment.claim(session, code=code, purpose=enrolment.TOTP_RESET)
    login = session.execute(
        select(WebLogin).where(WebLogin.principal_id == principal.id)
    ).scalar_one_or_none()
    if (
        login is None
        or login.username != username
        or not _reset_password_ok(login, password, checked)
    ):
        # Callers commit before answering, so the code is spent: whoever holds it (the
        # admin who issued it, say) gets one guess at the password, not a brute force.
        raise SignInFailed("Wrong username, password or code.")
    secret = pyotp.random_base32()
    login.totp_ciphertext = keys.encrypt_bytes(secret.encode(), purpose=TOTP_PURPOSE)
    login.last_totp_step = 0
    login.status = "active"
    audit.record(
        session,
        events.TotpSet(username=username),
        actor=f"principal:{principal.id}",
        target=f"principal:{principal.id}",
    )
    return NewLogin(username, password, secret)


def _reset_password_ok(login: WebLogin, password: str, checked: PasswordCheck | None) -> bool:
    if checked is None:
        return _password_ok(login.password_hash, password)
    # Checked against another hash than this login's: refused, no slow check under the lock.
    return checked.ok and checked.password_hash == login.password_hash


def list_logins(session: Session) -> list[LoginRead]:
    rows = session.execute(
        select(WebLogin, Principal.name).join(Principal).order_by(WebLogin.id)
    ).all()
    return [
        LoginRead(
            username=login.username,
            principal=name,
            status=login.status,
            created_at=as_utc(login.created_at),
        )
        for login, name in rows
    ]


def disable_login(session: Session, *, username: str, actor: str) -> LoginRead:
    """Protective, so one admin suffices: the login stops working and its sessions end."""
    login = _login(session, username)
    if login.status != "disabled":
        login.status = "disabled"
        session.execute(delete(WebSession).where(WebSession.principal_id == login.principal_id))
        audit.record(
            session,
            events.LoginDisabled(username=username),
            actor=actor,
            target=f"principal:{login.principal_id}",
        )
    session.flush()
    return next(r for r in list_logins(session) if r.username == username)


def start_totp_reset(
    session: Session, *, username: str, settings: Settings, actor: str
) -> EnrolmentIssued:
    """Void the login's second factor and sessions; the code lets the person set a new
    one, with their own password."""
    login = _login(session, username)
    login.status = "totp_reset"
    session.execute(delete(WebSession).where(WebSession.principal_id == login.principal_id))
    principal = session.get(Principal, login.principal_id)
    assert principal is not None  # foreign key
    return enrolment.issue_code(
        session,
        principal=principal,
        purpose=enrolment.TOTP_RESET,
        lifetime=timedelta(hours=settings.enrolment_hours),
        actor=actor,
    )


def sign_out(session: Session, *, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

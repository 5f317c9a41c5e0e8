"""Password + TOTP sign-in, lock-out, and sessions, for the console and the portals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.exceptions import Unauthenticated
from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.errors import Conflict
from rempart.web.models import WebLogin, WebSession

TOTP_PURPOSE = "web.totp"
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=8)
ISSUER = "Rempart"
_hasher = PasswordHasher()


class LoginExists(Conflict):
    code = "login_exists"


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


def create_login(
    session: Session,
    keys: KeyRing,
    *,
    principal: Principal,
    username: str,
    password: str | None,
    actor: str,
    now: datetime,
) -> NewLogin:
    if session.execute(
        select(WebLogin.id).where(
            (WebLogin.username == username) | (WebLogin.principal_id == principal.id)
        )
    ).first():
        raise LoginExists("This principal or username already has a login.")
    password = password or secrets.token_urlsafe(12)
    secret = pyotp.random_base32()
    session.add(
        WebLogin(
            principal_id=principal.id,
            username=username,
            password_hash=_hasher.hash(password),
            totp_ciphertext=keys.encrypt_bytes(secret.encode(), purpose=TOTP_PURPOSE),
            failed_attempts=0,
            last_totp_step=0,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="web.login.create",
        target=f"principal:{principal.id}",
        details={"username": username},
    )
    return NewLogin(username, password, secret)


def sign_in(
    session: Session, keys: KeyRing, *, username: str, password: str, code: str, now: datetime
) -> tuple[str, Caller]:
    """A new session token for the right password and a fresh TOTP code. Every failure says
    the same thing; five in a row lock the login for fifteen minutes."""
    login = session.execute(
        select(WebLogin).where(WebLogin.username == username)
    ).scalar_one_or_none()
    if login is None:
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
    password_ok: bool
    try:
        password_ok = _hasher.verify(login.password_hash, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    if not password_ok or matched is None or matched <= login.last_totp_step:
        login.failed_attempts += 1
        if login.failed_attempts >= MAX_FAILURES:
            login.locked_until = now + LOCK_FOR
            login.failed_attempts = 0
        audit.record(
            session,
            actor="web",
            action="web.sign_in.failed",
            target=f"principal:{login.principal_id}",
            details={"locked": login.locked_until is not None and as_utc(login.locked_until) > now},
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
    audit.record(session, actor=f"principal:{principal.id}", action="web.sign_in", details={})
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


def sign_out(session: Session, *, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

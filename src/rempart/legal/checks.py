"""The automatic checks an order goes through at intake, and the risk flags shown to
reviewers. Checks decide whether an order may be reviewed at all; flags never decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.settings import Settings
from rempart.legal.models import Authority, Order, OrderCheck, ProtectedAccount
from rempart.legal.schemas import (
    JUDGE_KINDS,
    JUDICIAL_KINDS,
    AuthorityKind,
    AuthorityStatus,
    CheckResult,
    DataCategory,
    OffenceCategory,
    OrderClaims,
    OrderStatus,
    RefusalGround,
    RiskFlag,
    RiskFlagCode,
    Target,
    TargetKind,
    TargetResolution,
)
from rempart.platform.models import Account, AccountIdentity
from rempart.platform.schemas import normalise_phone

# What Rempart holds, and so can ever disclose: a phone number answers a request for
# subscriber data, IP addresses with ports and times a request for identification data.
HELD_CATEGORIES = frozenset({DataCategory.SUBSCRIBER, DataCategory.IDENTIFICATION})
NOT_HELD_REASON = {
    DataCategory.TRAFFIC: (
        "Not held: the platform keeps no traffic data beyond the IP addresses used to "
        "connect, which answer a request for identification data."
    ),
    DataCategory.CONTENT: (
        "Not held: the platform never keeps or discloses message content; public posts are public."
    ),
}
PASSED, FAILED, WARNING = CheckResult.PASSED, CheckResult.FAILED, CheckResult.WARNING
NOT_APPLICABLE = CheckResult.NOT_APPLICABLE
OUTCOMES = tuple(CheckResult)
# Every automatic check, by the name its outcome is stored under.
CHECK_NAMES = (
    "authority_verified",
    "validation",
    "competence",
    "data_held",
    "offence_eligible",
    "target_exists",
    "period_in_retention",
)
# e-Evidence Art. 5(4): traffic and content data only for offences punishable by 3 years.
MIN_PENALTY_FOR_TRAFFIC_OR_CONTENT = 3
WORKING_HOURS = range(8, 19)
CONTACT_CHANGE_WINDOW = timedelta(days=30)
# Orders that may go out only after a recorded call-back to the authority's registered
# contact: what stops a forged request sent from a hijacked police mailbox.
CALLBACK_FLAGS = frozenset(
    {
        RiskFlagCode.FIRST_ORDER,
        RiskFlagCode.CONTACT_CHANGED_RECENTLY,
        RiskFlagCode.PROTECTED_TARGET,
    }
)


@dataclass(frozen=True)
class Resolution:
    outcome: TargetResolution
    user_id: str | None


@dataclass
class CheckOutcome:
    name: str
    outcome: CheckResult
    detail: str
    ground: RefusalGround | None = None
    code: str | None = None


def resolve_target(
    session: Session, *, keys: KeyRing, target: Target, start: datetime, end: datetime
) -> Resolution:
    """The account an identifier pointed at during [start, end]: a recycled username or
    phone number must not lead to whoever holds it today."""
    if target.kind is TargetKind.USER_ID:
        registered = session.execute(
            select(Account.registered_at).where(Account.user_id == target.value)
        ).scalar_one_or_none()
        if registered is None or as_utc(registered) > end:
            return Resolution(TargetResolution.NOT_FOUND, None)
        return Resolution(TargetResolution.FOUND, target.value)
    if target.kind is TargetKind.USERNAME:
        matches = func.lower(AccountIdentity.username) == target.value.lower()
    else:
        try:
            e164, _ = normalise_phone(target.value)
        except ValueError:  # PydanticCustomError: not a number, so nobody's
            return Resolution(TargetResolution.NOT_FOUND, None)
        matches = AccountIdentity.phone_index == keys.phone_index(e164)
    later = aliased(AccountIdentity)
    # Each identity row holds from its valid_from until the same user's next row.
    valid_until = (
        select(func.min(later.valid_from))
        .where(
            later.user_id == AccountIdentity.user_id,
            later.valid_from > AccountIdentity.valid_from,
        )
        .scalar_subquery()
    )
    users = (
        session.execute(
            select(AccountIdentity.user_id)
            .where(
                matches,
                AccountIdentity.valid_from <= end,
                or_(valid_until.is_(None), valid_until > start),
            )
            .distinct()
            .limit(2)
        )
        .scalars()
        .all()
    )
    if not users:
        return Resolution(TargetResolution.NOT_FOUND, None)
    if len(users) > 1:
        return Resolution(TargetResolution.AMBIGUOUS, None)
    return Resolution(TargetResolution.FOUND, users[0])


def _competent(category: DataCategory, issuer: Authority, validator: Authority | None) -> bool:
    allowed = JUDICIAL_KINDS if category in HELD_CATEGORIES else JUDGE_KINDS
    if issuer.kind in allowed:
        return True
    return (
        validator is not None
        and validator.kind in allowed
        and validator.status == AuthorityStatus.VERIFIED
        and validator.country == issuer.country
    )


def run_checks(
    *,
    claims: OrderClaims,
    issuer: Authority,
    validator: Authority | None,
    validation_check: CheckOutcome | None,
    resolutions: list[Resolution],
    held_by_preservation: bool,
    settings: Settings,
    now: datetime,
) -> tuple[list[CheckOutcome], dict[str, dict[str, str]]]:
    """Every check with its outcome, and what becomes of each requested data category."""
    checks: list[CheckOutcome] = []
    outcomes: dict[str, dict[str, str]] = {}

    verified = issuer.status == AuthorityStatus.VERIFIED
    checks.append(
        CheckOutcome(
            "authority_verified",
            PASSED if verified else FAILED,
            "The issuing authority is verified."
            if verified
            else f"The issuing authority's registration is {issuer.status}, not verified.",
            None if verified else RefusalGround.NOT_COMPETENT,
        )
    )

    if validation_check is not None:
        checks.append(validation_check)

    incompetent: list[str] = []
    for category in claims.data_categories:
        if category not in HELD_CATEGORIES:
            outcomes[category] = {"status": "not_held", "reason": NOT_HELD_REASON[category]}
        elif _competent(category, issuer, validator):
            outcomes[category] = {"status": "pending", "reason": ""}
        else:
            incompetent.append(category)
            outcomes[category] = {
                "status": "refused",
                "reason": "The issuing authority may not order this category without "
                "validation by a judge, court, investigating judge or prosecutor.",
            }
    pending = [c for c, o in outcomes.items() if o["status"] == "pending"]
    police_emergency = (
        issuer.kind == AuthorityKind.POLICE and claims.emergency and validator is None
    )
    if incompetent and police_emergency:
        # e-Evidence Art. 4(5): in an emergency, police may order identification and
        # subscriber data without prior validation, which must then follow within 48 h.
        for name in incompetent:
            outcomes[name] = {"status": "pending", "reason": "Awaiting ex-post validation."}
        pending, incompetent = pending + incompetent, []
        checks.append(
            CheckOutcome(
                "competence",
                WARNING,
                "Emergency order from a police authority without prior judicial validation: "
                "validation must follow within 48 hours.",
            )
        )
    elif incompetent:
        checks.append(
            CheckOutcome(
                "competence",
                FAILED if not pending else WARNING,
                "Not competent for: " + ", ".join(incompetent) + ".",
                RefusalGround.NOT_COMPETENT if not pending else None,
                # A failed validation is usually why: say so in the code.
                validation_check.code if validation_check else "not_competent",
            )
        )
    else:
        checks.append(
            CheckOutcome(
                "competence", PASSED, "The issuer is competent for every category it asks for."
            )
        )

    not_held = [c for c, o in outcomes.items() if o["status"] == "not_held"]
    any_held = any(c in HELD_CATEGORIES for c in claims.data_categories)
    checks.append(
        CheckOutcome(
            "data_held",
            PASSED if any_held else FAILED,
            ("Answered as not held: " + ", ".join(not_held) + ". " if not_held else "")
            + (
                "The rest of the order proceeds."
                if any_held
                else "Nothing the order asks for is held."
            ),
            None if any_held else RefusalGround.DATA_NOT_HELD,
        )
    )

    checks.append(_offence_check(claims, settings))
    checks.append(_target_check(resolutions))
    checks.append(_retention_check(claims, settings, now, held_by_preservation))
    return checks, outcomes


def _offence_check(claims: OrderClaims, settings: Settings) -> CheckOutcome:
    offence = claims.offence
    if settings.legal_policy == "terrorism_only":
        eligible = offence.category is OffenceCategory.TERRORISM
        rule = "the platform's policy covers terrorism cases only"
    else:
        eligible = offence.violates_terms
        rule = "the policy covers criminal offences that also violate the platform's terms"
    detail = f"Eligible: {rule}." if eligible else f"Not eligible: {rule}."
    wants_more = {DataCategory.TRAFFIC, DataCategory.CONTENT} & set(claims.data_categories)
    if wants_more and (offence.max_penalty_years or 0) < MIN_PENALTY_FOR_TRAFFIC_OR_CONTENT:
        detail += " Traffic or content data would need an offence punishable by 3 years."
    return CheckOutcome(
        "offence_eligible",
        PASSED if eligible else FAILED,
        detail,
        None if eligible else RefusalGround.OFFENCE_NOT_ELIGIBLE,
    )


def _target_check(resolutions: list[Resolution]) -> CheckOutcome:
    """Never a failure: an automatic refusal would tell the authority, before any human
    looked, that an identifier has no account. Reviewers see it and refuse if need be."""
    missing = [str(i) for i, r in enumerate(resolutions) if r.outcome is not TargetResolution.FOUND]
    if not missing:
        return CheckOutcome("target_exists", PASSED, "Every target matches one account.")
    if len(missing) == len(resolutions):
        return CheckOutcome(
            "target_exists",
            WARNING,
            "No target matches exactly one account during the order's period: refuse on "
            "the ground target_not_found.",
            code="no_target_found",
        )
    return CheckOutcome(
        "target_exists",
        WARNING,
        "Targets at positions " + ", ".join(missing) + " match no single account during the "
        "period; the others proceed.",
        code="some_targets_not_found",
    )


def _retention_check(
    claims: OrderClaims, settings: Settings, now: datetime, held: bool
) -> CheckOutcome:
    if DataCategory.IDENTIFICATION not in claims.data_categories:
        return CheckOutcome(
            "period_in_retention", NOT_APPLICABLE, "No connection records are asked for."
        )
    cutoff = now - timedelta(days=settings.ip_retention_days)
    if held:
        return CheckOutcome(
            "period_in_retention",
            PASSED,
            "A preservation order held the connection records of the period.",
        )
    if claims.period.end < cutoff:
        return CheckOutcome(
            "period_in_retention",
            FAILED,
            f"Connection records are kept {settings.ip_retention_days} days; the whole period "
            "lies before that and its records were deleted.",
            RefusalGround.DATA_NOT_HELD,
        )
    if claims.period.start < cutoff:
        return CheckOutcome(
            "period_in_retention",
            WARNING,
            f"Connection records are kept {settings.ip_retention_days} days: only the part "
            f"of the period after {cutoff.date().isoformat()} can be answered.",
        )
    return CheckOutcome("period_in_retention", PASSED, "The period lies inside retention.")


def store_checks(session: Session, *, order: Order, checks: list[CheckOutcome]) -> None:
    for check in checks:
        session.add(
            OrderCheck(
                order_id=order.id,
                name=check.name,
                outcome=check.outcome.value,
                code=check.code,
                detail=check.detail,
                checked_at=order.received_at,
            )
        )


# -- risk flags ---------------------------------------------------------------------------


def risk_flags(
    session: Session,
    *,
    claims: OrderClaims,
    issuer: Authority,
    protected: dict[str, str],
    settings: Settings,
    now: datetime,
) -> list[RiskFlag]:
    """Signals that call for extra care. They inform the reviewers and decide nothing."""
    flags: list[RiskFlag] = []
    earlier = select(func.count()).select_from(Order).where(Order.authority_id == issuer.id)
    total = session.execute(earlier).scalar_one()
    if total == 0:
        flags.append(
            RiskFlag(code=RiskFlagCode.FIRST_ORDER, message="The authority's first order.")
        )
    else:
        last_week = session.execute(earlier.where(Order.received_at >= now - timedelta(days=7)))
        before = session.execute(
            earlier.where(
                Order.received_at < now - timedelta(days=7),
                Order.received_at >= now - timedelta(days=91),
            )
        )
        recent, baseline = last_week.scalar_one(), before.scalar_one() / 12
        if recent >= 5 and recent > 3 * baseline:
            flags.append(
                RiskFlag(
                    code=RiskFlagCode.VOLUME_SPIKE,
                    message=f"{recent + 1} orders from this authority in 7 days, against "
                    f"{baseline:.1f} a week over the previous 12 weeks.",
                )
            )
        refused, decided = _refusal_counts(session, authority_id=issuer.id)
        if decided >= 5 and refused / decided >= 0.3:
            flags.append(
                RiskFlag(
                    code=RiskFlagCode.HIGH_REFUSAL_RATE,
                    message=f"{refused} of this authority's {decided} decided orders were refused.",
                )
            )
    changed = issuer.contact_changed_at
    if changed is not None and as_utc(changed) > now - CONTACT_CHANGE_WINDOW:
        flags.append(
            RiskFlag(
                code=RiskFlagCode.CONTACT_CHANGED_RECENTLY,
                message=f"The authority's registered contact changed on "
                f"{as_utc(changed).date().isoformat()}: confirm the order by calling it.",
            )
        )
    if len(claims.targets) > settings.order_many_targets:
        flags.append(
            RiskFlag(
                code=RiskFlagCode.MANY_TARGETS,
                message=f"{len(claims.targets)} targets in one order.",
            )
        )
    if claims.emergency and not _working_hours(now, issuer.timezone):
        flags.append(
            RiskFlag(
                code=RiskFlagCode.EMERGENCY_OUTSIDE_WORKING_HOURS,
                message="An emergency order filed outside the authority's working hours, "
                "as the forged emergency requests of 2021 were: confirm it through a known "
                "contact.",
            )
        )
    for category in sorted(set(protected.values())):
        flags.append(
            RiskFlag(
                code=RiskFlagCode.PROTECTED_TARGET,
                message=f"A target is marked as {category}: e-Evidence Art. 12 (immunities, "
                "press freedom, fundamental rights) calls for extra care.",
            )
        )
    return flags


def _refusal_counts(session: Session, *, authority_id: int) -> tuple[int, int]:
    refused_states = (OrderStatus.REFUSED, OrderStatus.CHECKS_FAILED)
    decided_states = (
        *refused_states,
        OrderStatus.APPROVED,
        OrderStatus.PARTIALLY_APPROVED,
        OrderStatus.DISCLOSED,
        OrderStatus.CLOSED,
    )
    rows = session.execute(
        select(Order.status, func.count())
        .where(Order.authority_id == authority_id, Order.status.in_(decided_states))
        .group_by(Order.status)
    ).all()
    counts = {status: n for status, n in rows}
    return sum(counts.get(s, 0) for s in refused_states), sum(counts.values())


def _working_hours(moment: datetime, timezone: str) -> bool:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.weekday() < 5 and local.hour in WORKING_HOURS


def protected_categories(session: Session, *, user_ids: list[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(ProtectedAccount.user_id, ProtectedAccount.category).where(
            ProtectedAccount.user_id.in_(user_ids)
        )
    ).all()
    return {user_id: category for user_id, category in rows}

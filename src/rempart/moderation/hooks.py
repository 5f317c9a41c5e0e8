"""Decision hooks: what the domains above moderation do around a moderation decision,
without moderation importing them.

reports (notices and appeals) and hotline (CSAM reports to a clearinghouse) build on
moderation's items and decisions, and moderation must still let them act inside the
decision's transaction: an appeal is settled by the decision that answers it, a notice's
reporters hear its outcome, a confirmed CSAM decision opens a hotline report that keeps the
originals; and the moderator's evidence and timeline show notices and appeals. Each of
them subscribes here when its package is imported
(``reports/__init__.py``, ``hotline/__init__.py``); moderation calls the proxies below,
which fail loudly when nobody subscribed, since a decision that silently skipped the
appeals it answers would be worse than no decision.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.moderation.schemas import CaseView
from rempart.platform.actions import PlatformActions

if TYPE_CHECKING:
    from rempart.moderation.timeline import Event

# The policy category whose restricting decisions hotline reports (moderation/data/policy).
CSAM_CATEGORY = "csam_indicators"


class AppealHooks(Protocol):
    def excluded_for(self, caller: Caller) -> ColumnElement[bool]: ...

    def before_decision(
        self, session: Session, *, item: ModerationItem, caller: Caller
    ) -> list[Any]: ...

    def settle(
        self,
        session: Session,
        *,
        pending: list[Any],
        decision: ModerationDecision,
        caller: Caller,
        now: datetime,
    ) -> None: ...

    def settled_by(self, session: Session, *, decision_id: int) -> bool: ...


class OutcomeHooks(Protocol):
    def statement_source(self, session: Session, *, item: ModerationItem) -> str: ...

    def after_decision(
        self,
        session: Session,
        *,
        settings: Settings,
        actions: PlatformActions,
        item: ModerationItem,
        decision: ModerationDecision,
        restricting: bool,
        reports_unfounded: bool,
        manifestly_illegal: bool,
        now: datetime,
    ) -> None: ...


class NoticeHooks(Protocol):
    def appeal_link(
        self,
        session: Session,
        *,
        decision_id: int,
        party: str,
        expires_at: datetime,
        link_base: str,
        user_id: str | None = None,
        reporter_id: int | None = None,
    ) -> str: ...

    def appeal_deadline(self, decided_at: datetime, days: int) -> datetime: ...


class ReviewHooks(Protocol):
    """What the moderator's evidence and timeline views show of notices and appeals."""

    def cases_of_item(self, session: Session, *, item_id: int) -> list[CaseView]: ...

    def appeals_of_item(self, session: Session, *, item_id: int) -> list[Any]: ...

    def timeline_events(self, session: Session, *, labels: dict[int, str]) -> list[Event]: ...


class HotlineHooks(Protocol):
    def csam_matches(self, signals: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def open_report(
        self,
        session: Session,
        *,
        item: ModerationItem,
        trigger: str,
        now: datetime,
        decision_id: int | None = None,
    ) -> Any: ...

    def takes_media(self, report: Any) -> bool: ...


class OrderHooks(Protocol):
    """Which items an authority's order to act took down (``legal/ordered.py``): the order,
    not the moderation item, keeps them down, so no scan or moderator may bring them back."""

    def ordered_down(
        self, session: Session, *, kind: str, refs: Collection[str]
    ) -> dict[str, str]: ...


class _Subscribers:
    appeals: AppealHooks | None = None
    outcomes: OutcomeHooks | None = None
    notices: NoticeHooks | None = None
    review: ReviewHooks | None = None
    hotline: HotlineHooks | None = None
    orders: OrderHooks | None = None


_subscribers = _Subscribers()


class NotSubscribed(RuntimeError):
    """A process decided before the domain that must act on decisions was imported."""


def subscribe_reports(
    *, appeals: AppealHooks, outcomes: OutcomeHooks, notices: NoticeHooks, review: ReviewHooks
) -> None:
    _subscribers.appeals, _subscribers.outcomes = appeals, outcomes
    _subscribers.notices, _subscribers.review = notices, review


def subscribe_hotline(hotline: HotlineHooks) -> None:
    _subscribers.hotline = hotline


def subscribe_legal(orders: OrderHooks) -> None:
    _subscribers.orders = orders


T = TypeVar("T")


def _need(hooks: T | None, domain: str) -> T:
    if hooks is None:
        raise NotSubscribed(f"{domain} has not subscribed to moderation decisions (import it).")
    return hooks


class _Appeals:
    def excluded_for(self, caller: Caller) -> ColumnElement[bool]:
        return _need(_subscribers.appeals, "reports").excluded_for(caller)

    def before_decision(
        self, session: Session, *, item: ModerationItem, caller: Caller
    ) -> list[Any]:
        return _need(_subscribers.appeals, "reports").before_decision(
            session, item=item, caller=caller
        )

    def settle(
        self,
        session: Session,
        *,
        pending: list[Any],
        decision: ModerationDecision,
        caller: Caller,
        now: datetime,
    ) -> None:
        _need(_subscribers.appeals, "reports").settle(
            session, pending=pending, decision=decision, caller=caller, now=now
        )

    def settled_by(self, session: Session, *, decision_id: int) -> bool:
        return _need(_subscribers.appeals, "reports").settled_by(session, decision_id=decision_id)


class _Outcomes:
    def statement_source(self, session: Session, *, item: ModerationItem) -> str:
        return _need(_subscribers.outcomes, "reports").statement_source(session, item=item)

    def after_decision(
        self,
        session: Session,
        *,
        settings: Settings,
        actions: PlatformActions,
        item: ModerationItem,
        decision: ModerationDecision,
        restricting: bool,
        reports_unfounded: bool,
        manifestly_illegal: bool,
        now: datetime,
    ) -> None:
        _need(_subscribers.outcomes, "reports").after_decision(
            session,
            settings=settings,
            actions=actions,
            item=item,
            decision=decision,
            restricting=restricting,
            reports_unfounded=reports_unfounded,
            manifestly_illegal=manifestly_illegal,
            now=now,
        )


class _Notices:
    def appeal_link(
        self,
        session: Session,
        *,
        decision_id: int,
        party: str,
        expires_at: datetime,
        link_base: str,
        user_id: str | None = None,
        reporter_id: int | None = None,
    ) -> str:
        return _need(_subscribers.notices, "reports").appeal_link(
            session,
            decision_id=decision_id,
            party=party,
            expires_at=expires_at,
            link_base=link_base,
            user_id=user_id,
            reporter_id=reporter_id,
        )

    def appeal_deadline(self, decided_at: datetime, days: int) -> datetime:
        return _need(_subscribers.notices, "reports").appeal_deadline(decided_at, days)


class _Review:
    def cases_of_item(self, session: Session, *, item_id: int) -> list[CaseView]:
        return _need(_subscribers.review, "reports").cases_of_item(session, item_id=item_id)

    def appeals_of_item(self, session: Session, *, item_id: int) -> list[Any]:
        return _need(_subscribers.review, "reports").appeals_of_item(session, item_id=item_id)

    def timeline_events(self, session: Session, *, labels: dict[int, str]) -> list[Event]:
        return _need(_subscribers.review, "reports").timeline_events(session, labels=labels)


class _Hotline:
    CSAM_CATEGORY = CSAM_CATEGORY

    def csam_matches(self, signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _need(_subscribers.hotline, "hotline").csam_matches(signals)

    def open_report(
        self,
        session: Session,
        *,
        item: ModerationItem,
        trigger: str,
        now: datetime,
        decision_id: int | None = None,
    ) -> Any:
        return _need(_subscribers.hotline, "hotline").open_report(
            session, item=item, trigger=trigger, now=now, decision_id=decision_id
        )

    def takes_media(self, report: Any) -> bool:
        return _need(_subscribers.hotline, "hotline").takes_media(report)


class _Orders:
    # What ``PlatformActions.disable`` answers (platform/actions.py): removed everywhere,
    # or disabled in some Member States only (then out of Rempart's search everywhere).
    REMOVED = "removed"
    GEO_RESTRICTED = "geo_restricted"

    def ordered_down(self, session: Session, *, kind: str, refs: Collection[str]) -> dict[str, str]:
        return _need(_subscribers.orders, "legal").ordered_down(session, kind=kind, refs=refs)


# What moderation's modules call, under the names they called in reports and hotline.
appeals = _Appeals()
outcomes = _Outcomes()
notices = _Notices()
review = _Review()
hotline = _Hotline()
ordered = _Orders()

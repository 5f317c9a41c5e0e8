"""Statements of reasons (DSA Art. 17) in the DSA Transparency Database's form, and their
delivery to the item's owner. The payload holds no personal data: no user id, no name."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.core.notify import Message, Notifier
from rempart.core.settings import Settings
from rempart.moderation.hooks import notices
from rempart.moderation.models import ModerationDecision, ModerationItem, StatementOfReasons
from rempart.moderation.signals import policy
from rempart.notify import service as notify

EU_AND_EEA = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
]  # fmt: skip
AUTOMATION = {
    "fully": "AUTOMATED_DECISION_FULLY",
    "partially": "AUTOMATED_DECISION_PARTIALLY",
    "not": "AUTOMATED_DECISION_NOT_AUTOMATED",
}
DECISION_FIELDS: dict[str, dict[str, list[str]]] = {
    # Out of search, still reachable by link: demoted.
    "remove_from_search": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DEMOTED"]},
    "remove_content": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    "suspend_entity": {"decision_provision": ["DECISION_PROVISION_TOTAL_SUSPENSION"]},
    "suspend_account": {"decision_account": ["DECISION_ACCOUNT_SUSPENDED"]},
}
RESTRICTING = frozenset(DECISION_FIELDS)
ACTOR = "system:moderation"


def build_payload(
    *,
    decision: ModerationDecision,
    item: ModerationItem,
    puid: str,
    content_date: datetime,
    language: str | None,
    has_media: bool,
    source_type: str,
    now: datetime,
    explanation: str | None = None,
) -> dict[str, Any]:
    category = policy().categories[decision.category]
    explanation = explanation or decision.explanation
    facts = (
        f"{explanation} Signals: "
        + ", ".join(f"{s['source']} {s['category']} {s['score']:.2f}" for s in decision.signals[:5])
        if decision.signals
        else explanation
    )
    payload: dict[str, Any] = {
        **DECISION_FIELDS[decision.action],
        "decision_facts": facts[:5000],
        "content_type": ["CONTENT_TYPE_TEXT", *(["CONTENT_TYPE_IMAGE"] if has_media else [])],
        "content_date": content_date.date().isoformat(),
        "category": category.dsa_category,
        "category_specification": [category.dsa_keyword],
        "application_date": now.date().isoformat(),
        "territorial_scope": EU_AND_EEA,
        "source_type": source_type,
        "automated_detection": "Yes" if decision.signals else "No",
        "automated_decision": AUTOMATION[decision.automation],
        "puid": puid,
    }
    if category.dsa_keyword == "KEYWORD_OTHER":
        payload["category_specification_other"] = decision.category.replace("_", " ")
    if language and len(language) >= 2 and language[:2].isalpha():
        payload["content_language"] = language[:2].upper()
    if decision.ground_type == "illegal":
        payload["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
        payload["illegal_content_legal_ground"] = decision.ground[:500]
        payload["illegal_content_explanation"] = explanation[:2000]
    else:
        payload["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        payload["incompatible_content_ground"] = decision.ground[:500]
        payload["incompatible_content_explanation"] = explanation[:2000]
        payload["incompatible_content_illegal"] = "Yes" if category.illegal else "No"
    return payload


def issue_statement(
    session: Session,
    *,
    decision: ModerationDecision,
    item: ModerationItem,
    content_date: datetime,
    language: str | None,
    has_media: bool,
    now: datetime,
    source_type: str = "SOURCE_VOLUNTARY",
    explanation: str | None = None,
) -> StatementOfReasons:
    """Store the statement; the worker sends it to the owner once this transaction has
    committed, so no one hears of a decision that was rolled back."""
    puid = f"rempart-{decision.id}-{secrets.token_hex(6)}"
    statement = StatementOfReasons(
        decision_id=decision.id,
        puid=puid,
        payload=build_payload(
            decision=decision,
            item=item,
            puid=puid,
            content_date=content_date,
            language=language,
            has_media=has_media,
            source_type=source_type,
            now=now,
            explanation=explanation,
        ),
        created_at=now,
    )
    session.add(statement)
    return statement


def deliver_statements(
    session: Session, *, notifier: Notifier, settings: Settings, now: datetime, limit: int = 500
) -> int:
    """Send each new statement to the owner, with a secret link to appeal it (Art. 20)."""
    pending = session.execute(
        select(StatementOfReasons, ModerationItem.owner_user_id)
        .join(ModerationDecision, ModerationDecision.id == StatementOfReasons.decision_id)
        .join(ModerationItem, ModerationItem.id == ModerationDecision.item_id)
        .where(StatementOfReasons.sent_to_owner_at.is_(None))
        .order_by(StatementOfReasons.id)
        .limit(limit)
    ).all()
    for statement, owner in pending:
        if owner:
            link = notices.appeal_link(
                session,
                decision_id=statement.decision_id,
                party="owner",
                user_id=owner,
                expires_at=notices.appeal_deadline(
                    as_utc(statement.created_at), settings.appeal_window_days
                ),
                link_base=settings.public_url,
            )
            message = Message(
                kind="statement_of_reasons",
                key=f"statement:{statement.puid}",
                body={
                    "user_id": owner,
                    "puid": statement.puid,
                    "statement": statement.payload,
                    "appeal_link": link,
                },
            )
            notify.send(session, notifier, message, actor=ACTOR, now=now)
        # An item with no known owner has no one to tell; it counts as handled.
        statement.sent_to_owner_at = now
    return len(pending)

"""The DSA Transparency Database's validation rules for a statement of reasons (API v1), as
the Commission's validator applies them. ``rempart dsa export`` refuses to write a
statement that breaks them; ``rempart dsa validate`` checks a file."""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import date
from typing import Any

from rempart.transparency.figures import EU_MEMBER_STATES

VISIBILITY = {
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
}
MONETARY = {
    "DECISION_MONETARY_SUSPENSION",
    "DECISION_MONETARY_TERMINATION",
    "DECISION_MONETARY_OTHER",
}
PROVISION = {
    "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION",
    "DECISION_PROVISION_TOTAL_TERMINATION",
}
ACCOUNT = {"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"}
GROUNDS = {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
CONTENT_TYPES = {
    f"CONTENT_TYPE_{t}"
    for t in ("APP", "AUDIO", "IMAGE", "PRODUCT", "SYNTHETIC_MEDIA", "TEXT", "VIDEO", "OTHER")
}
CATEGORIES = {
    f"STATEMENT_CATEGORY_{c}"
    for c in (
        "ANIMAL_WELFARE",
        "CONSUMER_INFORMATION",
        "CYBER_VIOLENCE",
        "CYBER_VIOLENCE_AGAINST_WOMEN",
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "ILLEGAL_OR_HARMFUL_SPEECH",
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "NOT_SPECIFIED_NOTICE",
        "OTHER_VIOLATION_TC",
        "PROTECTION_OF_MINORS",
        "RISK_FOR_PUBLIC_SECURITY",
        "SCAMS_AND_FRAUD",
        "SELF_HARM",
        "UNSAFE_AND_PROHIBITED_PRODUCTS",
        "VIOLENCE",
    )
}
TERRITORIES = EU_MEMBER_STATES | {"IS", "LI", "NO"}
SOURCES = {
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
}
AUTOMATED_DECISIONS = {
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
}
ACCOUNT_TYPES = {"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"}
YES_NO = {"Yes", "No"}
PUID = re.compile(r"^[a-zA-Z0-9\-_]+$")
LANGUAGE = re.compile(r"^[A-Z]{2}$")


def _text(errors: list[str], payload: dict[str, Any], name: str, limit: int) -> None:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{name} is required")
    elif len(value) > limit:
        errors.append(f"{name} may hold at most {limit} characters")


def _date(errors: list[str], payload: dict[str, Any], name: str, low: date, high: date) -> None:
    try:
        value = date.fromisoformat(str(payload.get(name)))
    except ValueError:
        errors.append(f"{name} must be a date as Y-m-d")
        return
    if not low <= value <= high:
        errors.append(f"{name} must lie between {low} and {high}")


def _values(
    errors: list[str], payload: dict[str, Any], name: str, allowed: Set[str], *, array: bool
) -> list[str]:
    value = payload.get(name)
    if value is None:
        return []
    items = value if array else [value]
    if array and (not isinstance(value, list) or not value):
        errors.append(f"{name} must be a non-empty array")
        return []
    bad = [v for v in items if v not in allowed]
    if bad:
        errors.append(f"{name} holds values that are not allowed: {sorted(map(str, bad))}")
    return [str(v) for v in items]


def validate(payload: Any) -> list[str]:
    """Every rule the statement breaks (none: it passes)."""
    if not isinstance(payload, dict):
        return ["a statement is a JSON object"]
    errors: list[str] = []
    visibility = _values(errors, payload, "decision_visibility", VISIBILITY, array=True)
    monetary = _values(errors, payload, "decision_monetary", MONETARY, array=False)
    provision = _values(errors, payload, "decision_provision", PROVISION, array=False)
    account = _values(errors, payload, "decision_account", ACCOUNT, array=False)
    if not (visibility or monetary or provision or account):
        errors.append("at least one of the four decision types is required")
    if "DECISION_VISIBILITY_OTHER" in visibility:
        _text(errors, payload, "decision_visibility_other", 500)
    if "DECISION_MONETARY_OTHER" in monetary:
        _text(errors, payload, "decision_monetary_other", 500)
    ground = payload.get("decision_ground")
    if ground not in GROUNDS:
        errors.append("decision_ground is required and must be one of the two grounds")
    elif ground == "DECISION_GROUND_ILLEGAL_CONTENT":
        _text(errors, payload, "illegal_content_legal_ground", 500)
        _text(errors, payload, "illegal_content_explanation", 2000)
    else:
        _text(errors, payload, "incompatible_content_ground", 500)
        _text(errors, payload, "incompatible_content_explanation", 2000)
        if payload.get("incompatible_content_illegal") not in (None, *YES_NO):
            errors.append('incompatible_content_illegal must be "Yes" or "No"')
    url = payload.get("decision_ground_reference_url")
    if url is not None and (not isinstance(url, str) or len(url) > 500 or "://" not in url):
        errors.append("decision_ground_reference_url must be a URL of at most 500 characters")
    _text(errors, payload, "decision_facts", 5000)
    types = _values(errors, payload, "content_type", CONTENT_TYPES, array=True)
    if not types:
        errors.append("content_type is required")
    if "CONTENT_TYPE_OTHER" in types:
        _text(errors, payload, "content_type_other", 500)
    _date(errors, payload, "content_date", date(2000, 1, 1), date(2038, 1, 1))
    language = payload.get("content_language")
    if language is not None and not (isinstance(language, str) and LANGUAGE.match(language)):
        errors.append("content_language must be an uppercase ISO 639-1 code")
    if payload.get("category") not in CATEGORIES:
        errors.append("category is required and must be a STATEMENT_CATEGORY_ value")
    _values(errors, payload, "category_addition", CATEGORIES, array=True)
    specification = payload.get("category_specification")
    if specification is not None:
        if not isinstance(specification, list) or not all(
            isinstance(k, str) and k.startswith("KEYWORD_") for k in specification
        ):
            errors.append("category_specification must be an array of KEYWORD_ values")
        elif "KEYWORD_OTHER" in specification:
            _text(errors, payload, "category_specification_other", 500)
    _values(errors, payload, "territorial_scope", TERRITORIES, array=True)
    _date(errors, payload, "application_date", date(2020, 1, 1), date(2038, 1, 1))
    source = payload.get("source_type")
    if source not in SOURCES:
        errors.append("source_type is required and must be a SOURCE_ value")
    identity = payload.get("source_identity")
    if identity is not None and (not isinstance(identity, str) or len(identity) > 500):
        errors.append("source_identity may hold at most 500 characters")
    if payload.get("automated_detection") not in YES_NO:
        errors.append('automated_detection is required: "Yes" or "No"')
    if payload.get("automated_decision") not in AUTOMATED_DECISIONS:
        errors.append("automated_decision is required and must be an AUTOMATED_DECISION_ value")
    puid = payload.get("puid")
    if not isinstance(puid, str) or len(puid) > 500 or not PUID.match(puid):
        errors.append("puid is required: at most 500 characters of [a-zA-Z0-9-_]")
    if payload.get("account_type") not in (None, *ACCOUNT_TYPES):
        errors.append("account_type must be ACCOUNT_TYPE_BUSINESS or ACCOUNT_TYPE_PRIVATE")
    return errors

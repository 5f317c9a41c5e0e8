"""The pure evaluation step of order intake: claims, facts read beforehand and the clock
in, a refusal or the checks' verdict out. No database, no keys: each rule is tested by
changing one input of an order that otherwise passes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rempart.core.errors import RempartError
from rempart.core.settings import Settings
from rempart.legal import checks
from rempart.legal.models import Authority
from rempart.legal.orders import (
    EMERGENCY_DEADLINE,
    ORDER_DEADLINE,
    VALIDATION_WINDOW,
    OrderFacts,
    evaluate_order,
)
from rempart.legal.schemas import OrderClaims, OrderRead, OrderStatus

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", demo=False)


def issuer(**changes: Any) -> Authority:
    fields: dict[str, Any] = {
        "id": 1,
        "code": "fr-tj-paris",
        "name": "Tribunal judiciaire de Paris",
        "country": "FR",
        "kind": "court",
        "status": "verified",
        "timezone": "Europe/Paris",
    }
    return Authority(**(fields | changes))


def claims(**changes: Any) -> OrderClaims:
    payload: dict[str, Any] = {
        "iss": "fr-tj-paris",
        "iat": int((NOW - timedelta(minutes=5)).timestamp()),
        "exp": int((NOW + timedelta(days=1)).timestamp()),
        "jti": "order-0001",
        "case_reference": "PARQUET-2026-001",
        "legal_basis": "Code de procédure pénale, art. 60-1",
        "offence": {
            "category": "terrorism",
            "description": "Provocation publique à des actes de terrorisme.",
            "max_penalty_years": 7,
            "violates_terms": True,
        },
        "targets": [{"kind": "user_id", "value": "u-suspect"}],
        "data_categories": ["subscriber_data", "identification_data"],
        "period": {
            "start": (NOW - timedelta(days=40)).isoformat(),
            "end": (NOW - timedelta(days=10)).isoformat(),
        },
        "document": {"sha256": hashlib.sha256(PDF).hexdigest()},
    }
    return OrderClaims.model_validate(payload | changes)


def facts(**changes: Any) -> OrderFacts:
    fields: dict[str, Any] = {
        "already_received": False,
        "validator": None,
        "validation_kid": None,
        "validation_check": None,
        "resolutions": [checks.Resolution("found", "u-suspect")],
        "preservation": None,
        "held_by_preservation": False,
        "protected": {},
        "risk_flags": [],
    }
    return OrderFacts(**(fields | changes))


Evaluate = Callable[..., Any]


@pytest.fixture
def evaluate(settings: Settings) -> Evaluate:
    def run(**changes: Any) -> Any:
        inputs: dict[str, Any] = {
            "claims": claims(),
            "issuer": issuer(),
            "facts": facts(),
            "document": PDF,
            "settings": settings,
            "now": NOW,
        }
        return evaluate_order(**(inputs | changes))

    return run


def test_a_sound_order_passes_its_checks_with_the_ordinary_deadline(evaluate: Evaluate) -> None:
    evaluation = evaluate()
    assert evaluation.status is OrderStatus.CHECKS_PASSED
    assert evaluation.refusal is None
    assert evaluation.due_at == NOW + ORDER_DEADLINE
    assert evaluation.validation_due_at is None
    assert evaluation.categories == {
        "subscriber_data": {"status": "pending", "reason": ""},
        "identification_data": {"status": "pending", "reason": ""},
    }
    assert {c.name: c.outcome for c in evaluation.checks}["authority_verified"] == "passed"


@pytest.mark.parametrize(
    ("inputs", "code"),
    [
        (lambda: {"claims": claims(iss="fr-other-court")}, "issuer_mismatch"),
        (
            lambda: {
                "claims": claims(
                    iat=int((NOW - timedelta(days=2)).timestamp()),
                    exp=int((NOW - timedelta(days=1)).timestamp()),
                )
            },
            "expired_token",
        ),
        (
            lambda: {"claims": claims(iat=int((NOW + timedelta(hours=1)).timestamp()))},
            "issued_in_future",
        ),
        (
            lambda: {"claims": claims(exp=int((NOW + timedelta(days=40)).timestamp()))},
            "token_lifetime_too_long",
        ),
        (
            lambda: {
                "claims": claims(
                    period={
                        "start": (NOW - timedelta(days=5 * 366)).isoformat(),
                        "end": (NOW - timedelta(days=10)).isoformat(),
                    }
                )
            },
            "invalid_period",
        ),
        (lambda: {"facts": facts(already_received=True)}, "replayed_token"),
        (lambda: {"document": b"not a pdf"}, "document_not_pdf"),
        (lambda: {"document": PDF + b"%changed"}, "document_hash_mismatch"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_order_that_cannot_be_stored_is_refused_with_its_code(
    evaluate: Evaluate, inputs: Callable[[], dict[str, Any]], code: str
) -> None:
    with pytest.raises(RempartError) as refused:
        evaluate(**inputs())
    assert refused.value.code == code


def test_a_document_over_the_limit_is_refused_as_too_large(
    evaluate: Evaluate, settings: Settings
) -> None:
    small = settings.model_copy(update={"order_document_max_bytes": 16})
    with pytest.raises(RempartError) as refused:
        evaluate(settings=small)
    assert (refused.value.code, refused.value.status_code) == ("document_too_large", 413)


def test_refusals_keep_their_order_so_the_authority_learns_the_first_fault(
    evaluate: Evaluate,
) -> None:
    """A replayed token with a wrong document is a replay: the cheapest, surest fault."""
    with pytest.raises(RempartError) as refused:
        evaluate(facts=facts(already_received=True), document=b"not a pdf")
    assert refused.value.code == "replayed_token"


@pytest.mark.parametrize(
    ("inputs", "ground"),
    [
        (lambda: {"issuer": issuer(status="pending")}, "issuing_authority_not_competent"),
        (lambda: {"issuer": issuer(kind="police")}, "issuing_authority_not_competent"),
        (
            lambda: {"claims": claims(data_categories=["content_data"])},
            "data_not_held",
        ),
        (
            lambda: {
                "claims": claims(
                    offence={
                        "category": "fraud",
                        "description": "Escroquerie en bande organisée.",
                        "max_penalty_years": 10,
                        "violates_terms": False,
                    }
                )
            },
            "offence_not_eligible",
        ),
        (
            lambda: {
                "claims": claims(
                    data_categories=["identification_data"],
                    period={
                        "start": (NOW - timedelta(days=3 * 365)).isoformat(),
                        "end": (NOW - timedelta(days=2 * 365)).isoformat(),
                    },
                )
            },
            "data_not_held",
        ),
    ],
    ids=["authority_not_verified", "police_unvalidated", "nothing_held", "offence", "retention"],
)
def test_a_failed_check_refuses_the_order_on_its_ground(
    evaluate: Evaluate, inputs: Callable[[], dict[str, Any]], ground: str
) -> None:
    evaluation = evaluate(**inputs())
    assert evaluation.status is OrderStatus.CHECKS_FAILED
    assert evaluation.refusal is not None
    assert evaluation.refusal["grounds"] == [ground]
    assert evaluation.refusal["reasons"]
    assert evaluation.validation_due_at is None


def test_a_target_without_an_account_is_never_an_automatic_refusal(evaluate: Evaluate) -> None:
    """Refusing it would tell the authority, before any human looked, that the identifier
    has no account."""
    evaluation = evaluate(facts=facts(resolutions=[checks.Resolution("not_found", None)]))
    assert evaluation.status is OrderStatus.CHECKS_PASSED
    assert {c.name: c.code for c in evaluation.checks}["target_exists"] == "no_target_found"


def test_a_police_emergency_without_validation_passes_and_awaits_one_within_48_hours(
    evaluate: Evaluate,
) -> None:
    evaluation = evaluate(
        issuer=issuer(kind="police"),
        claims=claims(
            emergency=True,
            emergency_ground="imminent_threat_to_life",
            emergency_justification="Prise d'otage en cours.",
        ),
    )
    assert evaluation.status is OrderStatus.CHECKS_PASSED
    assert evaluation.due_at == NOW + EMERGENCY_DEADLINE
    assert evaluation.validation_due_at == NOW + VALIDATION_WINDOW


def test_the_order_schema_names_every_closed_set_of_values() -> None:
    """Fields whose values form a closed set are enums, so the OpenAPI lists the values a
    client must handle (a plain string would let a new value through unannounced)."""
    schema = OrderRead.model_json_schema()
    definitions = schema["$defs"]

    def enum_of(model: dict[str, Any], field: str) -> list[str]:
        prop = model["properties"][field]
        prop = prop.get("items", prop)
        options = prop.get("anyOf", [prop])
        for option in options:
            if "$ref" in option:
                return list(definitions[option["$ref"].split("/")[-1]]["enum"])
            if option.get("type") == "array" and "$ref" in option["items"]:
                return list(definitions[option["items"]["$ref"].split("/")[-1]]["enum"])
        raise AssertionError(f"{field} is not an enum: {prop}")

    assert "terrorism" in enum_of(schema, "offence_category")
    assert "identification_data" in enum_of(schema, "requested_categories")
    assert "failed" in enum_of(definitions["CheckRead"], "outcome")
    assert "ambiguous" in enum_of(definitions["TargetRead"], "resolution")
    assert "press" in enum_of(definitions["TargetRead"], "protected_category")
    assert "first_order" in enum_of(definitions["RiskFlag"], "code")
    assert "data_not_held" in enum_of(definitions["Refusal"], "grounds")
    assert "data_not_held" in enum_of(definitions["ReviewRead"], "refusal_grounds")
    assert "subscriber_data" in enum_of(definitions["ReviewRead"], "approved_categories")
    assert "gone" in enum_of(definitions["ActItemRead"], "action")

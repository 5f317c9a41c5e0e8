"""Property-based tests of order intake: whatever an authority signs or sends, the answer
is a 201 or a 4xx with a machine-readable code, never a 5xx, and a refused order leaves
no order behind. SQLite only: the point is the parser, not the database."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import legal_world
from legal_support import LegalWorld, claims, sign, submit

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "iss",
    "iat",
    "exp",
    "jti",
    "order_type",
    "validating_authority",
    "case_reference",
    "legal_basis",
    "offence",
    "targets",
    "data_categories",
    "period",
    "emergency",
    "emergency_justification",
    "confidential_until",
    "preservation_reference",
    "document",
]
mutations = st.dictionaries(
    st.sampled_from([*FIELDS, "content", "messages", "extra"]),
    json_values | st.just("__drop__"),
    max_size=4,
)


# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 201:
        error = response.json()["error"]
        assert isinstance(error["code"], str)
        assert error["code"]
        assert isinstance(error["message"], str)


@FUZZ
@given(changes=mutations)
def test_signed_claims_of_any_shape(world: LegalWorld, changes: dict[str, Any]) -> None:
    court = world.court
    payload = claims(court)
    for key, value in changes.items():
        if value == "__drop__":
            payload.pop(key, None)
        else:
            payload[key] = value
    before = world.client.get("/v1/legal/orders", headers=court.headers).json()["total"]
    response = submit(world.client, court, sign(court, payload))
    check(response)
    after = world.client.get("/v1/legal/orders", headers=court.headers).json()["total"]
    assert after == before + (1 if response.status_code == 201 else 0)


@FUZZ
@given(
    token=st.text(alphabet=string.ascii_letters + string.digits + "-_.=", max_size=300)
    | st.text(max_size=100),
    document=st.binary(max_size=200),
)
def test_any_token_and_document(world: LegalWorld, token: str, document: bytes) -> None:
    response = submit(world.client, world.court, token or ".", document)
    check(response)
    assert response.status_code != 201


def test_missing_parts_and_oversized_documents(world: LegalWorld) -> None:
    client, court = world.client, world.court
    no_document = client.post("/v1/legal/orders", data={"jws": "x"}, headers=court.headers)
    assert no_document.status_code == 422
    no_token = client.post(
        "/v1/legal/orders",
        files={"document": ("o.pdf", b"%PDF-1.4", "application/pdf")},
        headers=court.headers,
    )
    assert no_token.status_code == 422
    as_json = client.post("/v1/legal/orders", json={"jws": "x"}, headers=court.headers)
    assert as_json.status_code == 422
    not_pdf = submit(client, court, sign(court, claims(court)), b"GIF89a")
    assert not_pdf.json()["error"]["code"] in {"document_not_pdf", "document_hash_mismatch"}


def test_absurd_periods_are_refused(world: LegalWorld) -> None:
    court = world.court
    for period in (
        {"start": "2026-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
        {"start": "1990-01-01T00:00:00Z", "end": "1991-01-01T00:00:00Z"},
        {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00"},
    ):
        response = submit(world.client, court, sign(court, claims(court, period=period)))
        assert response.status_code == 422, period
        assert response.json()["error"]["code"] in {"invalid_claims", "invalid_period"}

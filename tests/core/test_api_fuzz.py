"""Fuzzing: whatever arrives, the answer is never a 5xx, and a 4xx is a JSON error body.

Hypothesis throws malformed documents and ill-typed events at the ingest endpoint;
schemathesis walks every operation of the OpenAPI document. SQLite only: the point is the
input handling, and a fresh PostgreSQL database per test would double the time for little.
"""

from __future__ import annotations

import base64
import itertools
import json
import string
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from rempart.app import create_app
from rempart.auth.permissions import Role
from rempart.core.settings import Settings
from rempart.platform.schemas import EVENT_TYPES

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

URL = "/v1/ingest/events"
# Every string value the fuzzer sends carries this marker; an error body must never hold it.
CANARY = "QZXcanary"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def check_answer(response: Any, *, sent_events: int | None = None) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str), body
        assert body["error"]["code"], body
        assert isinstance(body["error"]["message"], str), body
        assert CANARY not in response.text, response.text
    else:
        assert response.status_code == 200
        body = response.json()
        if sent_events is not None:
            assert body["stored"] + body["duplicates"] == sent_events
            assert len(body["items"]) == sent_events


# -- strategies -----------------------------------------------------------------------

no_nul = st.characters(codec="utf-8", exclude_characters="\x00")
canary_text = st.text(no_nul, max_size=12).map(lambda s: f"{CANARY}{s}")
huge_text = st.integers(min_value=100, max_value=70_000).map(lambda n: CANARY + "x" * n)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | canary_text
)
json_documents = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
wrong = (
    json_scalars
    | huge_text
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)
    | st.sampled_from(
        [
            "",
            f"{CANARY}\x00",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "1969-12-31T23:59:59Z",
            "+61 491 570",
            "+" + "9" * 40,
            "+١٢١٢٥٥٥٠١٢٣",
            "١.1.1.1",
            "fe80::1%eth0",
            "::\x00",
            "256.1.1.1",
            "private",
            2**31,
            2**64,
            -1,
            1e308,
        ]
    )
)

# Valid values, each string marked with the canary where the schema allows it.
aware_times = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2199, 12, 30),
    timezones=st.just(UTC)
    | st.builds(
        timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
    ),
).map(datetime.isoformat)
event_ids = st.text(alphabet=string.ascii_letters + string.digits + "._:-", min_size=1, max_size=24)
platform_ids = st.text(no_nul, max_size=20).map(lambda s: f"{CANARY}{s}")
usernames = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True)
phones = st.sampled_from(
    [
        "+61 491 570 156",
        "+61491570157",
        "+1 212 555 0123",
        "+1 (415) 555-0100",
        "+44 20 7946 0958",
        "+800 1234 5678",
        "+33 1 99 00 12 34",
    ]
)
short_texts = st.text(no_nul, max_size=30).map(lambda s: f"{CANARY}{s}")
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
media_items = st.one_of(
    st.fixed_dictionaries(
        {"sha256": hex64},
        optional={
            "md5": st.binary(min_size=16, max_size=16).map(bytes.hex),
            "pdq": hex64,
            "pdq_quality": st.integers(0, 100),
        },
    ),
    st.fixed_dictionaries(
        {
            "image_base64": st.binary(min_size=1, max_size=64).map(
                lambda b: base64.b64encode(b).decode()
            )
        }
    ),
)
optional_port = st.none() | st.integers(0, 65535)

VALID_EVENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "account": st.fixed_dictionaries(
        {
            "type": st.sampled_from(["account.registered", "account.updated"]),
            "user_id": platform_ids,
        },
        optional={"username": usernames, "phone_number": phones, "synthetic": st.booleans()},
    ),
    "connection": st.fixed_dictionaries(
        {
            "type": st.just("connection.seen"),
            "user_id": platform_ids,
            "ip": st.ip_addresses().map(str),
        },
        optional={"port": optional_port, "user_agent": short_texts},
    ),
    "entity": st.fixed_dictionaries(
        {
            "type": st.sampled_from(["entity.published", "entity.updated"]),
            "entity_id": platform_ids,
            "kind": st.sampled_from(["channel", "group", "bot"]),
            "title": short_texts,
        },
        optional={
            "visibility": st.just("public"),
            "username": usernames,
            "description": short_texts,
            "owner_user_id": platform_ids,
            "member_count": st.integers(0, 2**31 - 1),
        },
    ),
    "entity_deleted": st.fixed_dictionaries(
        {"type": st.just("entity.deleted"), "entity_id": platform_ids}
    ),
    "post": st.fixed_dictionaries(
        {
            "type": st.sampled_from(["post.published", "post.edited"]),
            "post_id": platform_ids,
            "entity_id": platform_ids,
        },
        optional={
            "visibility": st.just("public"),
            "text": short_texts,
            "language": st.sampled_from(["en", "fr", "pt-BR", "zh-Hant"]),
            "media": st.lists(media_items, max_size=3),
        },
    ),
    "post_deleted": st.fixed_dictionaries(
        {"type": st.just("post.deleted"), "post_id": platform_ids}
    ),
}
FIELD_NAMES = [
    *("id", "type", "occurred_at", "visibility", "message_text", "chat_id", "user_id", "ip"),
    *("port", "phone_number", "title", "text", "media", "member_count", "kind", "language"),
    *("username", "entity_id", "post_id", "user_agent", "synthetic", "description"),
]
types = st.sampled_from(
    [*EVENT_TYPES, "message.sent", "Message.Sent", "chat.created", "account.deleted", ""]
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, then (often) a mutation or two: a field dropped, retyped or added."""
    event = {
        "id": draw(event_ids),
        "occurred_at": draw(aware_times),
        **draw(st.sampled_from(sorted(VALID_EVENTS)).flatmap(VALID_EVENTS.__getitem__)),
    }
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        action = draw(st.sampled_from(["drop", "replace", "add", "retype"]))
        if action == "drop":
            event.pop(draw(st.sampled_from(sorted(event))), None)
        elif action == "replace":
            event[draw(st.sampled_from(sorted(event)))] = draw(wrong)
        elif action == "add":
            event[draw(st.sampled_from(FIELD_NAMES))] = draw(wrong | canary_text)
        else:
            event["type"] = draw(types | wrong)
    return event


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def fuzz_client(settings: Settings) -> Iterator[TestClient]:
    # A small cap keeps the oversized cases cheap; the limit logic is the same.
    app = create_app(settings.model_copy(update={"max_body_bytes": 256 * 1024}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# -- hypothesis -----------------------------------------------------------------------


def test_random_documents(fuzz_client: TestClient, platform_headers: dict[str, str]) -> None:
    headers = {**platform_headers, "Content-Type": "application/json"}

    @FUZZ
    @given(document=json_documents)
    def run(document: Any) -> None:
        check_answer(fuzz_client.post(URL, content=json.dumps(document).encode(), headers=headers))

    run()


def test_random_bytes(fuzz_client: TestClient, platform_headers: dict[str, str]) -> None:
    headers = {**platform_headers, "Content-Type": "application/json"}

    @FUZZ
    @given(raw=st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
    def run(raw: bytes) -> None:
        check_answer(fuzz_client.post(URL, content=raw, headers=headers))

    run()


def test_random_events(fuzz_client: TestClient, platform_headers: dict[str, str]) -> None:
    statuses: Counter[int] = Counter()
    serial = itertools.count()

    @settings(parent=FUZZ, max_examples=400)
    @given(
        batch=st.lists(events(), min_size=1, max_size=4),
        extra=st.just({})
        | st.dictionaries(st.sampled_from(["extra", "meta", "events2"]), wrong, max_size=1),
        repeat=st.booleans(),
    )
    def run(batch: list[dict[str, Any]], extra: dict[str, Any], repeat: bool) -> None:
        # Hypothesis likes short ids ("0", "a"): made unique, or nearly every event would be
        # a duplicate of an earlier example and never reach storage.
        for item in batch:
            if isinstance(item.get("id"), str):
                item["id"] = f"{item['id']}.{next(serial)}"
        if repeat:
            batch.append(batch[0])
        body = json.dumps({"events": batch, **extra}).encode()
        response = fuzz_client.post(
            URL, content=body, headers={**platform_headers, "Content-Type": "application/json"}
        )
        statuses[response.status_code] += 1
        check_answer(response, sent_events=len(batch))

    run()
    # The fuzzer must reach storage as well as refusal, or it tests only half the path.
    assert statuses[200] >= 40, statuses
    assert statuses[422] >= 40, statuses


def test_random_headers_and_methods(fuzz_client: TestClient) -> None:
    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        path=st.sampled_from([URL, "/v1/auth/me", "/v1/auth/tokens", "/v1/audit/entries", "/nope"]),
        authorization=st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
        ),
        content_type=st.sampled_from(["application/json", "text/plain", "", "multipart/form-data"]),
    )
    def run(method: str, path: str, authorization: str, content_type: str) -> None:
        response = fuzz_client.request(
            method,
            path,
            content=b'{"events": []}',
            headers={"Authorization": authorization, "Content-Type": content_type},
        )
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert isinstance(response.json()["error"]["code"], str)

    run()


# -- schemathesis ---------------------------------------------------------------------


@pytest.fixture
def fuzz_app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def tokens(make_token: Callable[..., str]) -> dict[str, str]:
    return {
        role: make_token(role)
        for role in (Role.PLATFORM, Role.ADMIN, Role.AUDITOR, Role.LEGAL, Role.MODERATOR)
    }


def token_for(path: str, tokens: dict[str, str]) -> str:
    """The role that may use the operation, so that fuzzing reaches past authorisation."""
    if path.startswith("/v1/ingest") or path.startswith("/v1/reports"):
        return tokens[Role.PLATFORM]
    if path.startswith("/v1/audit"):
        return tokens[Role.AUDITOR]
    if path.startswith("/v1/legal"):
        return tokens[Role.LEGAL]
    if path.startswith("/v1/moderation"):
        return tokens[Role.MODERATOR]
    return tokens[Role.ADMIN]


def test_openapi(fuzz_app: FastAPI, tokens: dict[str, str]) -> None:
    """Every operation, with data that fits its schema and data that does not.

    Driven through schemathesis' strategies rather than its pytest plugin, whose lazy
    loading does not run under pytest 9.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # a broken operation schema fails loudly
        operations.append(result.ok())
    assert any(op.path == URL for op in operations)

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=20,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                token = token_for(case.path, tokens)
                callers = [{"Authorization": f"Bearer {token}"}]
                if case.path.startswith(("/v1/reports", "/v1/appeals")):
                    callers.append({})  # the public, without a token
                for headers in callers:
                    response = case.call(headers=headers)
                    case.validate_response(response, checks=[not_a_server_error])
                    if response.status_code >= 400:
                        body = response.json()
                        assert isinstance(body["error"]["code"], str), body

            try:
                run()
            except Unsatisfiable:
                # Nothing to get wrong (no parameters, no body): there is no negative case.
                if mode is not GenerationMode.NEGATIVE:
                    raise

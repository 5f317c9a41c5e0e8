"""``POST /v1/ingest/events``: typed events stored, refused whole, idempotent, audited."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

import factories
from rempart.app import create_app
from rempart.audit.models import AuditEntry
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job
from rempart.core.settings import Settings
from rempart.platform import service
from rempart.platform.exceptions import InvalidEvents, PrivateContentRefused
from rempart.platform.models import (
    Account,
    AccountIdentity,
    Connection,
    Entity,
    IngestedEvent,
    PendingImage,
    Post,
    PostMedia,
)
from rempart.platform.parsing import parse_batch

URL = "/v1/ingest/events"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def event(event_type: str, /, *, minutes: int = 0, **fields: Any) -> dict[str, Any]:
    """An event with an id of its own, ``minutes`` after T0."""
    moment = T0 + timedelta(minutes=minutes)
    return factories.event(f"ev-{uuid.uuid4().hex}", event_type, moment, **fields)


def ingest(client: TestClient, headers: dict[str, str], *events: dict[str, Any]) -> Any:
    return client.post(URL, json={"events": list(events)}, headers=headers)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


def item_codes(error: dict[str, Any]) -> set[str]:
    return {item["code"] for item in error.get("items", [])}


def rows(runtime: Runtime, model: Any, *where: Any) -> list[Any]:
    with transaction(runtime.engine, readonly=True) as session:
        return list(session.execute(sa.select(model).where(*where)).scalars())


def table_counts(runtime: Runtime) -> dict[str, int]:
    """Rows in every table of the database, whatever module created it."""
    names = sa.inspect(runtime.engine).get_table_names()
    with runtime.engine.connect() as connection:
        return {
            name: connection.execute(
                sa.select(sa.func.count()).select_from(sa.table(name))
            ).scalar_one()
            for name in names
            if name != "alembic_version"
        }


def ingest_audit_details(runtime: Runtime) -> list[dict[str, Any]]:
    entries = rows(runtime, AuditEntry, AuditEntry.action == "platform.ingest")
    return [json.loads(entry.body) for entry in sorted(entries, key=lambda e: e.seq)]


def png_bytes() -> bytes:
    image = Image.new("RGB", (64, 48))
    for x in range(64):
        for y in range(48):
            image.putpixel((x, y), (x * 4, y * 5, (x * y) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- each event type ------------------------------------------------------------------


PHONE_CASES = [
    ("+61 491 570 156", "+61491570156", "AU"),
    ("+1 212 555 0123", "+12125550123", "US"),
    ("+44 20 7946 0958", "+442079460958", "GB"),
    ("+61491570157", "+61491570157", "AU"),
    # Non-geographic numbers have region "001": a valid number without a country.
    ("+800 1234 5678", "+80012345678", None),
]


def test_account_registered_normalises_and_encrypts_the_phone(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    sent_events = [
        event("account.registered", user_id=f"u-{i}", username=f"user_{i}", phone_number=sent)
        for i, (sent, _, _) in enumerate(PHONE_CASES)
    ]
    body = ok(ingest(client, platform_headers, *sent_events))
    assert body["stored"] == len(PHONE_CASES)
    assert body["duplicates"] == 0
    assert body["items"] == [
        {"index": i, "id": e["id"], "status": "stored"} for i, e in enumerate(sent_events)
    ]

    accounts = {a.user_id: a for a in rows(runtime, Account)}
    identities = {i.user_id: i for i in rows(runtime, AccountIdentity)}
    assert len(accounts) == len(identities) == len(PHONE_CASES)
    for i, (sent, e164, country) in enumerate(PHONE_CASES):
        account, identity = accounts[f"u-{i}"], identities[f"u-{i}"]
        assert account.username == f"user_{i}"
        assert account.phone_country == country, sent
        assert account.synthetic is False
        assert account.registered_at == T0
        assert account.state_at == T0
        assert account.phone_ciphertext is not None
        assert e164.encode() not in account.phone_ciphertext
        assert runtime.keys.decrypt(account.phone_ciphertext, purpose="phone") == e164, sent
        assert account.phone_index == runtime.keys.phone_index(e164)

        assert (identity.username, identity.valid_from) == (f"user_{i}", T0)
        assert identity.event_id == sent_events[i]["id"]
        assert identity.phone_country == country
        assert identity.phone_index == account.phone_index
        assert runtime.keys.decrypt(identity.phone_ciphertext, purpose="phone") == e164


def test_account_without_phone_and_synthetic_flag(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(ingest(client, platform_headers, event("account.updated", user_id="u-2", synthetic=True)))
    (account,) = rows(runtime, Account)
    assert account.username is None
    assert account.phone_ciphertext is None
    assert account.phone_index is None
    assert account.phone_country is None
    assert account.synthetic is True


IP_CASES = [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
]


def test_connection_seen_is_stored_encrypted_in_canonical_form(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            *(
                event(
                    "connection.seen",
                    minutes=5,
                    user_id=f"u-{i}",
                    ip=sent,
                    port=443 + i,
                    user_agent="PlatformClient/1.0",
                )
                for i, (sent, _) in enumerate(IP_CASES)
            ),
        )
    )
    connections = {c.user_id: c for c in rows(runtime, Connection)}
    assert len(connections) == len(IP_CASES)
    for i, (sent, stored) in enumerate(IP_CASES):
        connection = connections[f"u-{i}"]
        assert connection.port == 443 + i
        assert connection.user_agent == "PlatformClient/1.0"
        assert connection.seen_at == T0 + timedelta(minutes=5)
        assert runtime.keys.decrypt(connection.ip_ciphertext, purpose="ip") == stored, sent
        assert connection.ip_index == runtime.keys.ip_index(stored)
        assert connection.network_index == runtime.keys.network_index(stored)


def test_connection_without_port_or_user_agent(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(ingest(client, platform_headers, event("connection.seen", user_id="u", ip="192.0.2.9")))
    (connection,) = rows(runtime, Connection)
    assert connection.port is None
    assert connection.user_agent is None


BAD_IPS = [
    "999.1.1.1",
    "192.0.2",
    "192.0.2.01",
    "١.1.1.1",  # non-ASCII digits
    "1٢٣.1.1.1",
    "2001:db8::g",
    "é::1",
    "::1\x00",
    "fe80::1%eth0",
    "",
]


def test_invalid_ip_is_refused_without_echo(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    for ip in BAD_IPS:
        response = ingest(client, platform_headers, event("connection.seen", user_id="u", ip=ip))
        assert item_codes(refused(response)) == {"invalid_ip_address"}, ip
        assert not ip or ip not in response.text
    assert rows(runtime, Connection) == []


def test_entity_published_updated_deleted(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    published = [
        event(
            "entity.published",
            entity_id=f"e-{kind}",
            kind=kind,
            username=f"{kind}_name",
            title=f"A {kind}",
            description="Public description",
            owner_user_id="u-1",
            member_count=42,
        )
        for kind in ("channel", "group", "bot")
    ]
    ok(ingest(client, platform_headers, *published))
    stored = {e.entity_id: e for e in rows(runtime, Entity)}
    assert set(stored) == {"e-channel", "e-group", "e-bot"}
    channel = stored["e-channel"]
    assert (channel.kind, channel.username, channel.title) == (
        "channel",
        "channel_name",
        "A channel",
    )
    assert (channel.description, channel.owner_user_id, channel.member_count) == (
        "Public description",
        "u-1",
        42,
    )
    assert channel.published_at == T0
    assert channel.deleted_at is None

    ok(
        ingest(
            client,
            platform_headers,
            event("entity.updated", minutes=10, entity_id="e-group", kind="group", title="Renamed"),
            event("entity.deleted", minutes=20, entity_id="e-bot"),
        )
    )
    stored = {e.entity_id: e for e in rows(runtime, Entity)}
    group = stored["e-group"]
    assert group.title == "Renamed"
    # An event carries the full state: fields it leaves out are gone.
    assert group.description is None
    assert group.member_count is None
    assert group.published_at == T0
    assert group.state_at == T0 + timedelta(minutes=10)
    assert stored["e-bot"].deleted_at == T0 + timedelta(minutes=20)
    assert stored["e-channel"].deleted_at is None


def test_post_published_edited_deleted(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    sha = "AB" * 32
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.published",
                post_id="p-1",
                entity_id="e-1",
                text="Hello, world",
                language="en",
                media=[{"sha256": sha, "md5": "cd" * 16, "pdq": "ef" * 32, "pdq_quality": 90}],
            ),
            event("post.published", post_id="p-2", entity_id="e-1", text="Bonjour", language="fr"),
        )
    )
    posts = {p.post_id: p for p in rows(runtime, Post)}
    assert posts["p-1"].text == "Hello, world"
    assert posts["p-1"].language == "en"
    assert posts["p-1"].entity_id == "e-1"
    assert posts["p-1"].published_at == T0
    assert posts["p-1"].edited_at is None
    (media,) = rows(runtime, PostMedia)
    assert (media.post_id, media.position, media.status) == ("p-1", 0, "hashed")
    assert media.sha256 == sha.lower()  # hashes are stored lower-case
    assert (media.md5, media.pdq, media.pdq_quality) == ("cd" * 16, "ef" * 32, 90)

    ok(
        ingest(
            client,
            platform_headers,
            event("post.edited", minutes=5, post_id="p-2", entity_id="e-1", text="Bonsoir"),
            event("post.deleted", minutes=7, post_id="p-1"),
        )
    )
    posts = {p.post_id: p for p in rows(runtime, Post)}
    assert posts["p-2"].text == "Bonsoir"
    assert posts["p-2"].edited_at == T0 + timedelta(minutes=5)
    assert posts["p-2"].published_at == T0
    # The platform took it down: the fact stays, the text goes.
    assert posts["p-1"].deleted_at == T0 + timedelta(minutes=7)
    assert posts["p-1"].text is None


def test_inline_image_is_kept_pending_and_a_hash_job_queued(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    image = png_bytes()
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.published",
                post_id="p-img",
                entity_id="e-1",
                media=[
                    {"md5": "00" * 16},
                    {"image_base64": base64.b64encode(image).decode()},
                ],
            ),
        )
    )
    media = sorted(rows(runtime, PostMedia), key=lambda m: m.position)
    assert [m.status for m in media] == ["hashed", "pending"]
    pending_media = media[1]
    assert pending_media.sha256 is None
    assert pending_media.pdq is None
    (pending,) = rows(runtime, PendingImage)
    assert pending.media_id == pending_media.id
    assert pending.content == image
    jobs = rows(runtime, Job, Job.kind == service.MEDIA_HASH_JOB)
    assert len(jobs) == 1
    assert jobs[0].status == "queued"
    assert jobs[0].payload == {"media_ids": [pending_media.id]}


BAD_MEDIA: list[tuple[dict[str, Any], str]] = [
    ({"image_base64": "not base64!"}, "invalid_base64"),
    ({"image_base64": ""}, "image_empty"),
    ({}, "media_empty"),
    ({"sha256": "12"}, "string_pattern_mismatch"),
    ({"pdq": "ab" * 32, "pdq_quality": 101}, "less_than_equal"),
    ({"md5": "cd" * 16, "exif": "x"}, "unknown_field"),
]


def test_bad_media_is_refused(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    for media, code in BAD_MEDIA:
        response = ingest(
            client,
            platform_headers,
            event("post.published", post_id="p", entity_id="e", media=[media]),
        )
        assert code in item_codes(refused(response)), media
    too_many = [{"md5": "cd" * 16}] * 21
    response = ingest(
        client,
        platform_headers,
        event("post.published", post_id="p", entity_id="e", media=too_many),
    )
    assert item_codes(refused(response)) == {"too_long"}
    assert rows(runtime, Post) == []


def test_inline_image_over_five_megabytes_is_refused(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    # One byte over: its base64 still fits the text limit, so the decoded size is checked.
    too_big = base64.b64encode(bytes(5 * 1024 * 1024 + 1)).decode()
    response = ingest(
        client,
        platform_headers,
        event("post.published", post_id="p", entity_id="e", media=[{"image_base64": too_big}]),
    )
    assert item_codes(refused(response)) == {"image_too_large"}
    assert len(response.content) < 2000
    assert rows(runtime, PendingImage) == []


# -- refusals -------------------------------------------------------------------------


BAD_PHONES = [
    "+61 491 570",
    "0491 570 156",
    "not a phone",
    "+999 1234 5678",
    "+1 212 555 012",
    "+" + "1" * 31,
    "+1 212 555 0123" + " " * 20,
]


def test_invalid_phone_is_refused_without_echo(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    for phone in BAD_PHONES:
        response = ingest(
            client,
            platform_headers,
            event("connection.seen", user_id="u-ok", ip="192.0.2.1"),
            event("account.registered", user_id="u-bad", phone_number=phone),
        )
        error = refused(response)
        assert error["code"] == "invalid_events"
        assert len(error["items"]) == 1, phone
        item = error["items"][0]
        assert (item["index"], item["field"]) == (1, "phone_number"), phone
        assert item["code"] in {"invalid_phone_number", "string_too_long"}, phone
        digits = "".join(ch for ch in phone if ch.isdigit())
        assert phone.strip() not in response.text
        assert not digits or digits not in response.text
    # The plain invalid numbers say so by name.
    response = ingest(
        client,
        platform_headers,
        event("account.registered", user_id="u", phone_number="+61 491 570"),
    )
    assert refused(response)["items"][0]["code"] == "invalid_phone_number"
    assert table_counts(runtime) == before


def test_unknown_field_is_refused(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    response = ingest(
        client,
        platform_headers,
        event("post.published", post_id="p", entity_id="e", text="ok", message_text="secret note"),
    )
    error = refused(response)
    assert error["items"][0]["code"] == "unknown_field"
    assert error["items"][0]["field"] == "message_text"
    assert error["items"][0]["index"] == 0
    assert "secret note" not in response.text
    assert table_counts(runtime) == before


def test_unknown_field_at_the_top_level(
    client: TestClient, platform_headers: dict[str, str]
) -> None:
    response = client.post(
        URL,
        json={"events": [event("entity.deleted", entity_id="e")], "extra": 1},
        headers=platform_headers,
    )
    assert "unknown_field" in item_codes(refused(response))


def test_unknown_field_names_are_echoed_only_when_name_like(
    client: TestClient, platform_headers: dict[str, str]
) -> None:
    """A key is the caller's own text: a phone number used as a key is not sent back."""
    odd_keys = ["+61491570156", "192.0.2.55", "x" * 5000, "naïve key"]
    response = ingest(
        client,
        platform_headers,
        {
            **event("entity.deleted", entity_id="e"),
            **dict.fromkeys(odd_keys, 1),
            "chat_id": 1,
        },
    )
    error = refused(response)
    fields = sorted(i["field"] for i in error["items"] if i["code"] == "unknown_field")
    assert fields == ["*"] * len(odd_keys) + ["chat_id"]
    for key in odd_keys:
        assert key not in response.text
    assert len(response.content) < 2000


PRIVATE_TEXT = "meet me at the usual place at nine"


PRIVATE_EVENTS = [
    event("message.sent", chat_id="c-1", text=PRIVATE_TEXT),
    event("Message.Sent", chat_id="c-1", text=PRIVATE_TEXT),
    event("private_message.created", text=PRIVATE_TEXT),
    event("secret_chat.message", text=PRIVATE_TEXT),
    event(
        "post.published", post_id="p-x", entity_id="e-x", visibility="private", text=PRIVATE_TEXT
    ),
    event(
        "entity.published", entity_id="e-x", kind="group", title=PRIVATE_TEXT, visibility="private"
    ),
]


def test_private_content_is_refused_and_nothing_stored(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    valid = [
        event("account.registered", user_id="u-1", phone_number="+61 491 570 156"),
        event("connection.seen", user_id="u-1", ip="192.0.2.1"),
        event("entity.published", entity_id="e-1", kind="channel", title="News"),
        event("post.published", post_id="p-1", entity_id="e-1", text="Public news"),
    ]
    for private in PRIVATE_EVENTS:
        for batch in ([private], [*valid[:2], private, *valid[2:]]):
            response = ingest(client, platform_headers, *batch)
            error = refused(response)
            assert error["code"] == "private_content_refused", private["type"]
            flagged = [i for i in error["items"] if i["code"] == "private_content_refused"]
            assert [i["index"] for i in flagged] == [batch.index(private)]
            assert PRIVATE_TEXT not in response.text
            assert table_counts(runtime) == before, private["type"]
    # The valid part alone goes through: the refusals above were about the private event.
    assert ok(ingest(client, platform_headers, *valid))["stored"] == 4


def test_private_content_is_refused_by_the_service(runtime: Runtime) -> None:
    body = json.dumps({"events": [event("dm.sent", text=PRIVATE_TEXT)]}).encode()
    with pytest.raises(PrivateContentRefused) as raised:
        parse_batch(body)
    assert raised.value.status_code == 422
    assert PRIVATE_TEXT not in json.dumps(raised.value.details)


def test_batch_size_limits(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    for size, code in ((0, "too_short"), (5001, "too_long")):
        events = [event("entity.deleted", entity_id=f"e-{i}") for i in range(size)]
        error = refused(ingest(client, platform_headers, *events))
        assert [(i["field"], i["code"]) for i in error["items"]] == [("events", code)]
    assert table_counts(runtime) == before


def test_a_batch_of_exactly_5000_events_is_taken(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    events = [
        event("connection.seen", user_id=f"u-{i % 50}", ip=f"198.51.100.{i % 250}")
        for i in range(5000)
    ]
    body = ok(ingest(client, platform_headers, *events))
    assert body["stored"] == 5000
    assert len(body["items"]) == 5000
    assert table_counts(runtime)["connections"] == 5000


def test_invalid_json(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    headers = {**platform_headers, "Content-Type": "application/json"}
    for raw in (
        b"{not json",
        b"",
        b'{"events": [',
        b"\xff\xfe",
        b'{"events": ["\\ud800"]}',  # a lone surrogate
        b"[" * 10000 + b"]" * 10000,  # deeper than the parser's recursion limit
        b'{"events": []} trailing',
    ):
        response = client.post(URL, content=raw, headers=headers)
        assert refused(response)["code"] == "invalid_json", raw[:20]
    assert table_counts(runtime) == before


MALFORMED: list[tuple[bytes, str]] = [
    (b"[]", "model_type"),
    (b"null", "model_type"),
    (b'"text"', "model_type"),
    (b'{"events": {}}', "list_type"),
    (b'{"events": [1]}', "dict_type"),
    (b"{}", "missing"),
    (b'{"events": [{"id": "x", "occurred_at": "2026-03-01T12:00:00Z"}]}', "missing_event_type"),
    (
        b'{"events": [{"id": "x", "type": "account.deleted",'
        b' "occurred_at": "2026-03-01T12:00:00Z"}]}',
        "unknown_event_type",
    ),
    (
        b'{"events": [{"id": "x", "type": 7, "occurred_at": "2026-03-01T12:00:00Z"}]}',
        "unknown_event_type",
    ),
]


def test_malformed_documents(client: TestClient, platform_headers: dict[str, str]) -> None:
    headers = {**platform_headers, "Content-Type": "application/json"}
    for raw, code in MALFORMED:
        response = client.post(URL, content=raw, headers=headers)
        error = refused(response)
        assert error["code"] == "invalid_events", raw
        assert code in item_codes(error), raw


FIELD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"occurred_at": "2026-03-01T12:00:00"}, "timezone_aware"),
    ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "datetime_out_of_range"),
    ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "datetime_out_of_range"),
    ({"occurred_at": "1969-12-31T23:59:59Z"}, "datetime_out_of_range"),
    ({"occurred_at": "2200-01-01T00:00:00Z"}, "datetime_out_of_range"),
    ({"occurred_at": "yesterday"}, "datetime_from_date_parsing"),
    ({"title": "nul\x00byte"}, "invalid_character"),
    ({"title": ""}, "string_too_short"),
    ({"entity_id": "e\x00"}, "invalid_character"),
    ({"member_count": 2**31}, "less_than_equal"),
    ({"member_count": 10**30}, "less_than_equal"),
    ({"member_count": -1}, "greater_than_equal"),
    ({"member_count": "many"}, "int_parsing"),
    ({"kind": "supergroup"}, "literal_error"),
    ({"username": "has space"}, "string_pattern_mismatch"),
    ({"id": "has space"}, "string_pattern_mismatch"),
    ({"id": "x" * 129}, "string_too_long"),
    ({"id": 12}, "string_type"),
]


def test_field_rules(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    base = event("entity.published", entity_id="e-1", kind="channel", title="T")
    for fields, code in FIELD_RULES:
        response = ingest(client, platform_headers, {**base, **fields})
        assert code in item_codes(refused(response)), (fields, response.text)
    assert rows(runtime, Entity) == []
    # The base event itself is fine: the refusals were about the changed field.
    ok(ingest(client, platform_headers, base))


def test_nul_in_post_text_and_user_agent(
    client: TestClient, platform_headers: dict[str, str]
) -> None:
    for bad in (
        event("post.published", post_id="p", entity_id="e", text="a\x00b"),
        event("connection.seen", user_id="u", ip="192.0.2.1", user_agent="\x00"),
        event("account.registered", user_id="u\x00"),
    ):
        assert item_codes(refused(ingest(client, platform_headers, bad))) == {"invalid_character"}


def test_occurred_at_is_normalised_to_utc(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            {
                **event("connection.seen", user_id="u", ip="192.0.2.1"),
                "occurred_at": "2026-03-01T14:00:00+02:00",
            },
        )
    )
    (connection,) = rows(runtime, Connection)
    assert connection.seen_at == T0


# -- body size ------------------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _oversized_body() -> bytes:
    events = [
        event("post.published", post_id=f"p-{i}", entity_id="e", text="x" * 300) for i in range(20)
    ]
    body = json.dumps({"events": events}).encode()
    assert len(body) > 4096
    return body


def test_body_over_the_cap_is_413(
    small_client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    body = _oversized_body()
    response = small_client.post(
        URL, content=body, headers={**platform_headers, "Content-Type": "application/json"}
    )
    error = refused(response, 413)
    assert error["code"] == "payload_too_large"
    assert table_counts(runtime) == before


def test_body_under_the_cap_passes(
    small_client: TestClient, platform_headers: dict[str, str]
) -> None:
    response = small_client.post(
        URL,
        json={"events": [event("entity.deleted", entity_id="e-1")]},
        headers=platform_headers,
    )
    assert response.status_code == 200, response.text


def test_body_without_content_length_is_counted(
    small_client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    body = _oversized_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = small_client.post(
        URL, content=chunks(), headers={**platform_headers, "Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert refused(response, 413)["code"] == "payload_too_large"
    assert table_counts(runtime) == before


def test_lying_content_length_is_not_trusted(
    small_client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    before = table_counts(runtime)
    for declared in ("100", "0", "abc", "-5"):
        response = small_client.post(
            URL,
            content=_oversized_body(),
            headers={
                **platform_headers,
                "Content-Type": "application/json",
                "Content-Length": declared,
            },
        )
        assert refused(response, 413)["code"] == "payload_too_large", declared
    assert table_counts(runtime) == before


def test_body_cap_holds_on_json_routes_too(
    small_client: TestClient, make_token: Callable[..., str]
) -> None:
    from rempart.auth.permissions import Role

    headers = {
        "Authorization": f"Bearer {make_token(Role.ADMIN)}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"role": "platform", "name": "n", "pad": "x" * 5000}).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:2000]
        yield body[2000:]

    for content in (body, chunks()):
        response = small_client.post("/v1/auth/tokens", content=content, headers=headers)
        assert refused(response, 413)["code"] == "payload_too_large"


# -- idempotency ----------------------------------------------------------------------


def _mixed_batch() -> list[dict[str, Any]]:
    return [
        event("account.registered", user_id="u-1", username="alice", phone_number="+61491570156"),
        event("connection.seen", user_id="u-1", ip="192.0.2.1", port=1234),
        event("entity.published", entity_id="e-1", kind="channel", title="News"),
        event(
            "post.published",
            post_id="p-1",
            entity_id="e-1",
            text="Hello",
            media=[{"image_base64": base64.b64encode(png_bytes()).decode()}],
        ),
        event("post.deleted", minutes=3, post_id="p-0"),
    ]


def test_redelivered_batch_stores_nothing_twice(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    batch = _mixed_batch()
    first = ok(ingest(client, platform_headers, *batch))
    assert first["stored"] == len(batch)
    assert first["duplicates"] == 0
    after_first = table_counts(runtime)
    assert after_first["ingested_events"] == len(batch)

    second = ok(ingest(client, platform_headers, *batch))
    assert second["stored"] == 0
    assert second["duplicates"] == len(batch)
    assert [i["status"] for i in second["items"]] == ["duplicate"] * len(batch)
    assert [i["id"] for i in second["items"]] == [e["id"] for e in batch]
    assert second["batch_id"] != first["batch_id"]
    after_second = table_counts(runtime)
    # Only the audit log grows: the redelivery itself is recorded.
    assert {k: v for k, v in after_second.items() if not k.startswith("audit")} == {
        k: v for k, v in after_first.items() if not k.startswith("audit")
    }


def test_redelivery_with_changed_content_is_still_a_duplicate(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    original = event("entity.published", entity_id="e-1", kind="channel", title="First")
    ok(ingest(client, platform_headers, original))
    changed = {**original, "title": "Second", "occurred_at": at(60)}
    body = ok(ingest(client, platform_headers, changed))
    assert body["items"][0]["status"] == "duplicate"
    assert rows(runtime, Entity)[0].title == "First"


def test_duplicate_ids_inside_one_batch(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    one = event("connection.seen", user_id="u-1", ip="192.0.2.1")
    two = event("connection.seen", user_id="u-1", ip="192.0.2.2")
    body = ok(ingest(client, platform_headers, one, one, two, {**one, "ip": "192.0.2.3"}))
    assert [i["status"] for i in body["items"]] == ["stored", "duplicate", "stored", "duplicate"]
    assert [i["index"] for i in body["items"]] == [0, 1, 2, 3]
    assert body["stored"] == 2
    assert body["duplicates"] == 2
    stored_ips = sorted(
        runtime.keys.decrypt(c.ip_ciphertext, purpose="ip") for c in rows(runtime, Connection)
    )
    assert stored_ips == ["192.0.2.1", "192.0.2.2"]
    assert len(rows(runtime, IngestedEvent)) == 2


def test_partly_seen_batch(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    old = event("connection.seen", user_id="u-1", ip="192.0.2.1")
    ok(ingest(client, platform_headers, old))
    new = event("connection.seen", user_id="u-1", ip="192.0.2.2")
    body = ok(ingest(client, platform_headers, new, old))
    assert [i["status"] for i in body["items"]] == ["stored", "duplicate"]
    assert len(rows(runtime, Connection)) == 2


def test_service_functions_directly(runtime: Runtime) -> None:
    batch_events = _mixed_batch()
    raw = json.dumps({"events": batch_events}).encode()
    batch = parse_batch(raw)
    with transaction(runtime.engine) as session:
        result = service.ingest(
            session,
            keys=runtime.keys,
            batch=batch,
            body_digest=service.body_digest(raw),
            actor="test:service",
        )
    assert result.stored == len(batch_events)
    with transaction(runtime.engine) as session:
        again = service.ingest(
            session, keys=runtime.keys, batch=batch, body_digest="0" * 64, actor="test:service"
        )
    assert again.stored == 0
    assert again.duplicates == len(batch_events)
    with pytest.raises(InvalidEvents) as raised:
        parse_batch(b'{"events": []}')
    assert raised.value.code == "invalid_events"


# -- state and history ----------------------------------------------------------------


def test_account_history_keeps_every_identity(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "account.registered",
                user_id="u-1",
                username="first_name",
                phone_number="+61 491 570 156",
            ),
        )
    )
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "account.updated",
                minutes=60,
                user_id="u-1",
                username="second_name",
                phone_number="+1 212 555 0123",
            ),
        )
    )
    identities = sorted(rows(runtime, AccountIdentity), key=lambda i: i.valid_from)
    assert [(i.username, i.valid_from) for i in identities] == [
        ("first_name", T0),
        ("second_name", T0 + timedelta(minutes=60)),
    ]
    assert [runtime.keys.decrypt(i.phone_ciphertext, purpose="phone") for i in identities] == [
        "+61491570156",
        "+12125550123",
    ]
    assert [i.phone_country for i in identities] == ["AU", "US"]
    (account,) = rows(runtime, Account)
    assert account.username == "second_name"
    assert runtime.keys.decrypt(account.phone_ciphertext, purpose="phone") == "+12125550123"
    assert account.phone_index == runtime.keys.phone_index("+12125550123")
    assert account.phone_country == "US"
    assert account.registered_at == T0
    assert account.state_at == T0 + timedelta(minutes=60)

    # A late, older event joins the history but does not override the newer state.
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "account.updated",
                minutes=30,
                user_id="u-1",
                username="middle_name",
                phone_number="+44 20 7946 0958",
            ),
        )
    )
    assert len(rows(runtime, AccountIdentity)) == 3
    (account,) = rows(runtime, Account)
    assert account.username == "second_name"
    assert account.phone_country == "US"
    assert account.state_at == T0 + timedelta(minutes=60)


def test_out_of_order_events_inside_one_batch(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event("account.updated", minutes=10, user_id="u-1", username="newest"),
            event("account.registered", minutes=0, user_id="u-1", username="oldest"),
            event("account.updated", minutes=5, user_id="u-1", username="middle"),
        )
    )
    (account,) = rows(runtime, Account)
    assert account.username == "newest"
    assert account.registered_at == T0
    assert len(rows(runtime, AccountIdentity)) == 3


def test_registration_arriving_after_an_update_sets_registered_at(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event("account.updated", minutes=60, user_id="u-1", username="b"),
        )
    )
    ok(ingest(client, platform_headers, event("account.registered", user_id="u-1", username="a")))
    (account,) = rows(runtime, Account)
    assert account.username == "b"
    assert account.registered_at == T0
    assert account.state_at == T0 + timedelta(minutes=60)


def test_late_older_entity_event_does_not_undelete(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event("entity.published", entity_id="e-1", kind="group", title="v1"),
        )
    )
    ok(ingest(client, platform_headers, event("entity.deleted", minutes=30, entity_id="e-1")))
    ok(
        ingest(
            client,
            platform_headers,
            event("entity.updated", minutes=10, entity_id="e-1", kind="group", title="v2"),
        )
    )
    (entity,) = rows(runtime, Entity)
    assert entity.deleted_at == T0 + timedelta(minutes=30)
    assert entity.title == "v1"
    # A newer update after the deletion does bring it back (the platform restored it).
    ok(
        ingest(
            client,
            platform_headers,
            event("entity.updated", minutes=40, entity_id="e-1", kind="group", title="v3"),
        )
    )
    (entity,) = rows(runtime, Entity)
    assert entity.deleted_at is None
    assert entity.title == "v3"


def test_deletion_arriving_before_publication_wins(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event("entity.deleted", minutes=30, entity_id="e-1"),
            event("post.deleted", minutes=30, post_id="p-1"),
        )
    )
    ok(
        ingest(
            client,
            platform_headers,
            event("entity.published", entity_id="e-1", kind="channel", title="Late"),
            event("post.published", post_id="p-1", entity_id="e-1", text="Late text"),
        )
    )
    live_entities = rows(runtime, Entity, Entity.deleted_at.is_(None))
    live_posts = rows(runtime, Post, Post.deleted_at.is_(None))
    assert live_entities == []
    assert live_posts == []
    assert all(p.text is None for p in rows(runtime, Post))
    (entity,) = rows(runtime, Entity)
    # The publication is still known: the entity existed from then on.
    assert entity.published_at == T0


def test_late_older_post_edit_does_not_override(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.published",
                post_id="p-1",
                entity_id="e-1",
                text="v1",
                media=[{"md5": "11" * 16}],
            ),
        )
    )
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.edited",
                minutes=20,
                post_id="p-1",
                entity_id="e-1",
                text="v3",
                media=[{"md5": "33" * 16}],
            ),
        )
    )
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.edited",
                minutes=10,
                post_id="p-1",
                entity_id="e-1",
                text="v2",
                media=[{"md5": "22" * 16}],
            ),
        )
    )
    (post,) = rows(runtime, Post)
    assert post.text == "v3"
    assert post.edited_at == T0 + timedelta(minutes=20)
    assert [m.md5 for m in rows(runtime, PostMedia)] == ["33" * 16]


def test_edit_without_media_removes_the_media(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    ok(
        ingest(
            client,
            platform_headers,
            event(
                "post.published",
                post_id="p-1",
                entity_id="e-1",
                text="with picture",
                media=[{"image_base64": base64.b64encode(png_bytes()).decode()}],
            ),
        )
    )
    assert len(rows(runtime, PendingImage)) == 1
    ok(
        ingest(
            client,
            platform_headers,
            event("post.edited", minutes=5, post_id="p-1", entity_id="e-1", text="text only"),
        )
    )
    assert rows(runtime, PostMedia) == []
    assert rows(runtime, PendingImage) == []


# -- audit ----------------------------------------------------------------------------


def test_each_batch_is_audited_without_personal_data(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> None:
    batch = _mixed_batch()
    raw = json.dumps({"events": batch}).encode()
    headers = {**platform_headers, "Content-Type": "application/json"}
    first = ok(client.post(URL, content=raw, headers=headers))
    second = ok(client.post(URL, content=raw, headers=headers))
    refused(ingest(client, platform_headers, event("message.sent")))

    entries = ingest_audit_details(runtime)
    assert len(entries) == 2  # one per accepted batch; a refused batch changes nothing
    digest = hashlib.sha256(raw).hexdigest()
    for entry, result in zip(entries, (first, second), strict=True):
        assert entry["target"] == f"batch:{result['batch_id']}"
        assert entry["details"]["batch_digest"] == digest
        assert entry["details"]["stored"] == result["stored"]
        assert entry["details"]["duplicates"] == result["duplicates"]
        assert entry["actor"].startswith("principal:")
    assert entries[0]["details"]["stored_by_type"] == {
        "account.registered": 1,
        "connection.seen": 1,
        "entity.published": 1,
        "post.published": 1,
        "post.deleted": 1,
    }
    assert entries[1]["details"]["stored_by_type"] == {}
    everything = json.dumps(entries)
    for personal in ("+61491570156", "61491570156", "192.0.2.1", "alice", "u-1", "Hello"):
        assert personal not in everything


def test_ingest_needs_moderation_subscribed_and_every_entry_point_subscribes_it() -> None:
    # Ingest enqueues moderation's scans through platform/hooks.py; content that skipped its
    # scan would never be checked, so ingest refuses until moderation has subscribed, and
    # the app does subscribe it. A fresh interpreter: the suite has imported every domain.
    import subprocess
    import sys

    script = (
        "from rempart.platform import hooks\n"
        "try:\n"
        "    hooks.enqueue_scan(None, entity_ids=[], post_ids=['p'])\n"
        "except hooks.NotSubscribed:\n"
        "    print('refused')\n"
        "import rempart.app\n"
        "print(hooks._subscribers.enqueue_scan is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["refused", "True"]

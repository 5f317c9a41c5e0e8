"""The notifier port: the outbox default, and the signed webhook against a real receiver on
127.0.0.1 that checks the signature, fails the first attempts, and refuses forgeries;
retries with backoff, dead letters after the last attempt, replay by id. All audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, update

from conftest import CliResult
from legal_support import MovableClock
from rempart.audit.models import AuditEntry
from rempart.core.clock import as_utc
from rempart.core.crypto import KeyRing
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.models import WebhookDelivery
from rempart.core.notify import (
    WEBHOOK_BODY_PURPOSE,
    Channel,
    Message,
    OutboxNotifier,
    WebhookNotifier,
)
from rempart.core.settings import Settings
from rempart.notify import service as notify
from rempart.notify import signing, webhook
from rempart.notify import tasks as notify_tasks
from rempart.reports import notices
from rempart.reports import tasks as reports_tasks
from rempart.reports.models import Notice

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Receiver:
    """A platform's endpoint: verifies each request, fails while ``failures`` is positive."""

    url: str
    secret: str
    database_url: str
    failures: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # Whether the receiver could write the delivery's row while the request was open:
    # False means Rempart held a write transaction across the network call.
    row_writable: list[bool] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            signing.verify(self.receiver.secret, self.headers.get(signing.HEADER), body)
        except signing.SignatureInvalid as exc:
            self.receiver.rejected.append(str(exc))
            self._answer(401)
            return
        envelope = json.loads(body)
        self.receiver.row_writable.append(self._row_writable(int(envelope["id"])))
        if self.receiver.failures > 0:
            self.receiver.failures -= 1
            self._answer(503)
            return
        self.receiver.accepted.append(envelope)
        self._answer(204)

    def _row_writable(self, delivery_id: int) -> bool:
        engine = get_engine(self.receiver.database_url, lock_timeout=0.5)
        try:
            with transaction(engine) as session:
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id)
                    .values(channel=WebhookDelivery.channel)
                )
        except Exception:
            return False
        return True

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(database_url: str) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = Receiver(
        url=f"http://127.0.0.1:{server.server_address[1]}/hooks/rempart",
        secret=SECRET,
        database_url=database_url,
    )
    _Handler.receiver = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _webhook_settings(settings: Settings, receiver: Receiver, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "notifier": "webhook",
        "notify_webhook_url": receiver.url,
        "notify_webhook_secret": SecretStr(SECRET),
        "notify_webhook_backoff_seconds": 60.0,
        "notify_webhook_max_attempts": 4,
        "notify_webhook_timeout_seconds": 5.0,
    }
    values.update(changes)
    # Validated as the service validates it at start-up.
    return Settings.model_validate({**settings.model_dump(), **values})


@pytest.fixture
def hooked(runtime: Runtime, settings: Settings, receiver: Receiver) -> Runtime:
    return Runtime(
        settings=_webhook_settings(settings, receiver), engine=runtime.engine, keys=runtime.keys
    )


def _send(rt: Runtime, message: Message) -> None:
    with transaction(rt.engine) as session:
        notify.send(session, rt.notifier, message, actor="system:test", now=rt.now())


def _delivery(rt: Runtime) -> WebhookDelivery:
    with transaction(rt.engine, readonly=True) as session:
        rows = list(session.execute(select(WebhookDelivery)).scalars())
    assert len(rows) == 1
    return rows[0]


def _audited(rt: Runtime, action: str) -> list[dict[str, Any]]:
    with transaction(rt.engine, readonly=True) as session:
        bodies = session.execute(
            select(AuditEntry.body).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        ).scalars()
        return [json.loads(body) for body in bodies]


NOTICE = Message(
    kind="disclosure_notice",
    key="legal-notification:7",
    body={"notification_id": 7, "user_id": "u-42", "text_en": "We disclosed…"},
)


def test_the_outbox_is_the_default_and_every_send_is_audited(runtime: Runtime) -> None:
    assert isinstance(runtime.notifier, OutboxNotifier)
    _send(runtime, NOTICE)
    art18 = Message(
        kind="dsa_art18_notification",
        key="escalation:E1",
        body={"reference": "E1", "body": {"phone_number": "+33612345678"}},
        channel=Channel.AUTHORITY,
    )
    _send(runtime, art18)
    lines = runtime.settings.notification_outbox.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"type": "disclosure_notice", **NOTICE.body}]
    # Personal data for the authorities never lands where the users' notices go.
    authority = runtime.settings.authority_outbox.read_text()
    assert "+33612345678" in authority
    assert "+33612345678" not in "".join(lines)
    sent = _audited(runtime, "notify.sent")
    assert [(e["target"], e["details"]["channel"], e["details"]["via"]) for e in sent] == [
        ("legal-notification:7", "notifications", "outbox"),
        ("escalation:E1", "authority", "outbox"),
    ]


def test_the_webhook_needs_a_url_and_a_secret(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="notifier_not_configured"):
        Settings.model_validate({**settings.model_dump(), "notifier": "webhook"})
    with pytest.raises(ValidationError, match="notifier_not_configured"):
        Settings.model_validate(
            {
                **settings.model_dump(),
                "notifier": "webhook",
                "notify_webhook_url": "http://127.0.0.1:9/",
                "notify_webhook_secret": SecretStr("short"),
            }
        )


def test_signed_delivery_retried_with_backoff_until_the_receiver_takes_it(
    hooked: Runtime, receiver: Receiver
) -> None:
    assert isinstance(hooked.notifier, WebhookNotifier)
    receiver.failures = 2
    _send(hooked, NOTICE)
    stored = _delivery(hooked)
    # Stored encrypted: the user id is not in the row.
    assert b"u-42" not in stored.body_ciphertext
    assert not hooked.settings.notification_outbox.exists()

    start = datetime.now(UTC)
    rt = hooked

    def attempt(at: datetime) -> dict[str, int]:
        return webhook.deliver_due(rt.engine, rt.settings, rt.keys, now=at)

    assert attempt(start) == {"delivered": 0, "dead": 0, "pending": 1}
    # Not before its backoff: 60 s after the first failure, then 120 s after the second.
    assert attempt(start + timedelta(seconds=59)) == {"delivered": 0, "dead": 0, "pending": 0}
    assert attempt(start + timedelta(seconds=60)) == {"delivered": 0, "dead": 0, "pending": 1}
    assert attempt(start + timedelta(seconds=179)) == {"delivered": 0, "dead": 0, "pending": 0}
    assert attempt(start + timedelta(seconds=180)) == {"delivered": 1, "dead": 0, "pending": 0}
    assert attempt(start + timedelta(days=1)) == {"delivered": 0, "dead": 0, "pending": 0}

    assert receiver.rejected == []
    assert len(receiver.accepted) == 1
    envelope = receiver.accepted[0]
    assert envelope == {
        "id": stored.id,
        "key": "legal-notification:7",
        "type": "disclosure_notice",
        "channel": "notifications",
        "data": NOTICE.body,
    }
    # Every post ran with no write transaction open on Rempart's side.
    assert receiver.row_writable == [True, True, True]
    done = _delivery(hooked)
    assert (done.state, done.attempts, done.last_error) == ("delivered", 3, None)
    delivered = _audited(hooked, "notify.webhook.delivered")
    assert [(e["target"], e["details"]["attempts"]) for e in delivered] == [
        ("legal-notification:7", 3)
    ]
    assert _audited(hooked, "notify.sent")[0]["details"]["via"] == "webhook"


def test_forged_altered_and_stale_requests_are_refused(receiver: Receiver) -> None:
    body = json.dumps({"id": 1, "key": "k", "type": "t", "data": {}}).encode()
    good = signing.header_value(SECRET, body)
    forged = signing.header_value("an-attackers-guess-0000", body)
    altered = body.replace(b'"k"', b'"x"')
    stale = signing.header_value(SECRET, body, timestamp=int(datetime.now(UTC).timestamp()) - 3600)
    with httpx.Client() as client:
        for header, content in [
            (forged, body),
            (good, altered),
            (stale, body),
            (good.replace("v1=", "v0="), body),
        ]:
            response = client.post(receiver.url, content=content, headers={signing.HEADER: header})
            assert response.status_code == 401
        assert client.post(receiver.url, content=body).status_code == 401
        assert (
            client.post(receiver.url, content=body, headers={signing.HEADER: good}).status_code
            == 204
        )
    assert receiver.rejected == [
        "signature does not match",
        "signature does not match",
        "signature timestamp outside the tolerance",
        "malformed signature header",
        "no signature header",
    ]
    # A rotation: the old and new secrets' signatures side by side, one matching suffices.
    both = good + "," + forged.split(",")[1]
    signing.verify(SECRET, both, body)


def test_dead_letter_after_the_last_attempt_then_replay_delivers(
    hooked: Runtime,
    receiver: Receiver,
    cli: Callable[..., CliResult],
    env: dict[str, str],
) -> None:
    receiver.failures = 100
    _send(hooked, NOTICE)
    moment = datetime.now(UTC)
    for _ in range(6):
        webhook.deliver_due(hooked.engine, hooked.settings, hooked.keys, now=moment)
        moment += timedelta(hours=1)
    dead = _delivery(hooked)
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 4, "HTTP 503")
    assert len(receiver.row_writable) == 4
    entries = _audited(hooked, "notify.webhook.dead_lettered")
    assert [e["details"] for e in entries] == [
        {"delivery": dead.id, "kind": "disclosure_notice", "attempts": 4, "error": "HTTP 503"}
    ]

    webhook_env = {
        **env,
        "REMPART_NOTIFIER": "webhook",
        "REMPART_NOTIFY_WEBHOOK_URL": receiver.url,
        "REMPART_NOTIFY_WEBHOOK_SECRET": SECRET,
    }
    unknown = cli("notify", "replay", str(dead.id + 1), env=webhook_env)
    assert unknown.exit_code == 1
    assert "delivery_not_found" in unknown.stderr
    listed = cli("notify", "list", "--state", "dead", env=webhook_env)
    assert listed.exit_code == 0
    assert "legal-notification:7" in listed.stdout

    receiver.failures = 0
    replayed = cli("notify", "replay", str(dead.id), env=webhook_env)
    assert replayed.exit_code == 0, replayed.stderr
    assert "delivered" in replayed.stdout
    assert [e["key"] for e in receiver.accepted] == ["legal-notification:7"]
    after = _delivery(hooked)
    assert (after.state, after.attempts) == ("delivered", 1)
    assert [e["details"] for e in _audited(hooked, "notify.webhook.replayed")] == [
        {"delivery": dead.id, "kind": "disclosure_notice", "previous_state": "dead"}
    ]
    assert [e["actor"] for e in _audited(hooked, "notify.webhook.replayed")] == ["system:cli"]

    # Replaying one that waits already is refused, with a code.
    with transaction(hooked.engine) as session:
        session.execute(update(WebhookDelivery).values(state="pending"))
    waiting = cli("notify", "replay", str(dead.id), env=webhook_env)
    assert waiting.exit_code == 1
    assert "delivery_pending" in waiting.stderr


def test_reports_notices_reach_the_webhook_through_the_worker(
    hooked: Runtime, receiver: Receiver
) -> None:
    """A domain's message, end to end: queued with the decision, handed to the notifier by
    the worker's delivery round, posted by its webhook round."""
    with transaction(hooked.engine) as session:
        notices.queue(
            session,
            kind="notice_decision",
            body={"decision": "no_violation"},
            now=datetime.now(UTC),
            user_id="u-9",
        )
    with transaction(hooked.engine) as session:
        reports_tasks.deliver(session, hooked)
    assert notify_tasks.run(hooked) == 1
    assert notify_tasks.run(hooked) == 0
    [envelope] = receiver.accepted
    assert envelope["type"] == "notice_decision"
    assert envelope["key"].startswith("notice:")
    assert envelope["data"] == {"decision": "no_violation", "user_id": "u-9"}


def test_authority_messages_never_go_to_the_users_endpoint(
    runtime: Runtime, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    rt = Runtime(
        settings=_webhook_settings(settings, receiver),
        engine=runtime.engine,
        keys=runtime.keys,
    )
    art18 = Message(
        kind="dsa_art18_notification",
        key="escalation:E2",
        body={"reference": "E2"},
        channel=Channel.AUTHORITY,
    )
    _send(rt, art18)
    assert notify_tasks.run(rt) == 0
    assert receiver.accepted == []
    assert json.loads(rt.settings.authority_outbox.read_text()) == {
        "type": "dsa_art18_notification",
        "reference": "E2",
    }


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def test_the_worker_tasks_take_the_time_from_the_runtime_clock(
    runtime: Runtime, moved: MovableClock
) -> None:
    # By default the runtime reads the process clock, which tests move.
    moved.offset = timedelta(days=3)
    assert runtime.now() - datetime.now(UTC) > timedelta(days=2)

    moment = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    rt = Runtime(
        settings=runtime.settings,
        engine=runtime.engine,
        keys=runtime.keys,
        clock=FixedClock(moment),
    )
    with transaction(rt.engine) as session:
        notices.queue(session, kind="notice_decision", body={}, now=moment, user_id="u-1")
    with transaction(rt.engine) as session:
        reports_tasks.deliver(session, rt)
    with transaction(rt.engine, readonly=True) as session:
        sent = session.execute(select(Notice.sent_at)).scalar_one()
    assert as_utc(sent) == moment
    assert json.loads(rt.settings.notification_outbox.read_text())["user_id"] == "u-1"


def test_key_rotation_reencrypts_stored_deliveries(hooked: Runtime) -> None:
    from rich.console import Console

    from rempart.keys import reencrypt_all

    _send(hooked, NOTICE)
    ring = hooked.keys.with_new_data_key()
    reencrypt_all(hooked.engine, ring=ring, console=Console(quiet=True))
    stored = _delivery(hooked)
    assert (
        KeyRing.key_id_of(stored.body_ciphertext) == ring.active_key_id != hooked.keys.active_key_id
    )
    body = ring.decrypt_bytes(stored.body_ciphertext, purpose=WEBHOOK_BODY_PURPOSE)
    assert json.loads(body) == NOTICE.body


def test_a_worker_round_posts_what_is_due(hooked: Runtime, receiver: Receiver) -> None:
    from rempart.worker import Worker

    _send(hooked, NOTICE)
    assert Worker(hooked).tick()
    assert [e["key"] for e in receiver.accepted] == ["legal-notification:7"]
    assert _delivery(hooked).state == "delivered"

"""The notifier port at the service layer: sending messages through the outbox and through
the signed webhook, and the worker's delivery of the webhook's messages to a receiver on
127.0.0.1 that verifies every signature.

    .venv/bin/python bench/notify_webhook.py --messages 1000 [--database-url …]

Times ``notify.send`` (audited) for ``--messages`` messages in batches of 100 per
transaction, as the worker sends them, first with the outbox notifier, then with the
webhook notifier (which stores each message encrypted); then times ``deliver_due`` until
every delivery is posted (claim, decrypt, sign, post, record). Prints rates and the longest
write transaction.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.notify import Message
from rempart.core.settings import Settings
from rempart.notify import service as notify
from rempart.notify import signing, webhook

SECRET = "bench-secret-0123456789"
BATCH = 100


class Receiver(BaseHTTPRequestHandler):
    verified = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signing.verify(SECRET, self.headers.get(signing.HEADER), body)
        Receiver.verified += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def send_all(rt: Runtime, count: int, prefix: str) -> tuple[float, float]:
    started, longest = time.perf_counter(), 0.0
    for start in range(0, count, BATCH):
        writing = time.perf_counter()
        with transaction(rt.engine) as session:
            for n in range(start, min(start + BATCH, count)):
                message = Message(
                    kind="statement_of_reasons",
                    key=f"{prefix}:{n}",
                    body={"user_id": f"u-{n}", "puid": f"p-{n}", "appeal_link": "https://x/a#s"},
                )
                notify.send(session, rt.notifier, message, actor="bench", now=rt.now())
        longest = max(longest, time.perf_counter() - writing)
    return time.perf_counter() - started, longest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-notify-"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'notify.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
        notification_outbox=folder / "outbox.jsonl",
        authority_outbox=folder / "authority.jsonl",
        classifier_semantic=False,
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    engine = get_engine(settings.database_url)
    keys = crypto.load_keyring(settings.key_file, demo=False)
    outbox = Runtime(settings, engine, keys)
    hooked_settings = settings.model_copy(
        update={
            "notifier": "webhook",
            "notify_webhook_url": f"http://127.0.0.1:{server.server_address[1]}/hook",
            "notify_webhook_secret": SecretStr(SECRET),
        }
    )
    hooked = Runtime(hooked_settings, engine, keys)

    n = args.messages
    spent, longest = send_all(outbox, n, "outbox")
    print(f"outbox send: {n / spent:.0f} messages/s (longest transaction {longest * 1000:.0f} ms)")
    spent, longest = send_all(hooked, n, "webhook")
    print(f"webhook send: {n / spent:.0f} messages/s (longest transaction {longest * 1000:.0f} ms)")
    started = time.perf_counter()
    delivered = 0
    while delivered < n:
        counts = webhook.deliver_due(engine, hooked_settings, keys, now=datetime.now(UTC))
        delivered += counts[webhook.DELIVERED]
        if not any(counts.values()):
            break
    spent = time.perf_counter() - started
    print(
        f"webhook delivery: {delivered} delivered, {Receiver.verified} signatures verified, "
        f"{delivered / spent:.0f} deliveries/s"
    )
    server.shutdown()


if __name__ == "__main__":
    main()

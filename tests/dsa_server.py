"""A local stand-in for the DSA Transparency Database API (v1), on loopback: it applies the
validation rules to every statement, keeps puids unique, and can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rempart.transparency.dsa_rules import validate

TOKEN = "dsa-test-token"


@dataclass
class Database:
    known: set[str] = field(default_factory=set)
    refuse: set[str] = field(default_factory=set)  # puids refused with a validation error
    failures_left: int = 0  # answer 503 this many times first
    posts: int = 0
    url: str = ""
    # Called as each request arrives: a test looks at the caller's database from here.
    on_request: Callable[[], None] | None = None


def _handler(db: Database) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Unauthenticated."})
                return False
            return True

        def do_GET(self) -> None:
            if db.on_request is not None:
                db.on_request()
            prefix = "/api/v1/statement/existing-puid/"
            if not self._authorised():
                return
            if self.path.startswith(prefix):
                puid = self.path[len(prefix) :]
                if puid in db.known:
                    self._answer(302, {"puid": puid}, {"Location": f"/statement/{puid}"})
                else:
                    self._answer(404, {"message": "statement not found"})
                return
            self._answer(404, {"message": "not found"})

        def do_POST(self) -> None:
            if db.on_request is not None:
                db.on_request()
            if not self._authorised():
                return
            if self.path != "/api/v1/statements":
                self._answer(404, {"message": "not found"})
                return
            db.posts += 1
            if db.failures_left > 0:
                db.failures_left -= 1
                self._answer(503, {"message": "try later"})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            statements = body.get("statements")
            if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
                self._answer(422, {"errors": {"statements": ["1 to 100 statements"]}})
                return
            errors: dict[str, Any] = {}
            for index, statement in enumerate(statements):
                problems = validate(statement)
                puid = statement.get("puid")
                if puid in db.known:
                    problems.append("The puid has already been taken.")
                if puid in db.refuse:
                    problems.append("Refused by the test database.")
                if problems:
                    errors[f"statement_{index}"] = problems
            if errors:
                self._answer(422, {"message": "invalid", "errors": errors})
                return
            db.known.update(s["puid"] for s in statements)
            self._answer(201, {"statements": statements})

    return Handler


@contextmanager
def running() -> Iterator[Database]:
    db = Database()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(db))
    db.url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield db
    finally:
        server.shutdown()
        server.server_close()

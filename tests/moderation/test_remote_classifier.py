"""The optional OpenAI-compatible safety model: asked only about what the first stage is
unsure of, and its failures are clear errors (the scan job then retries). Talks to a
stub server on the loopback interface only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from rempart.moderation.cascade import Cascade
from rempart.moderation.ngram import load_default
from rempart.moderation.remote import RemoteClassifier, RemoteClassifierError


class Stub(BaseHTTPRequestHandler):
    asked: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads it
    mode = "ok"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][1]["content"]
        Stub.asked.append(text)
        if Stub.mode == "error":
            self.send_response(503)
            self.end_headers()
            return
        verdict = (
            {"category": "weapons", "confidence": 0.91}
            if "Glock" in text
            else {"category": "none", "confidence": 0.8}
        )
        content = "not json" if Stub.mode == "garbage" else json.dumps(verdict)
        payload = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.asked, Stub.mode = [], "ok"
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_only_unsure_items_reach_the_remote_model(stub: str) -> None:
    cascade = Cascade(load_default(), RemoteClassifier(stub, "safety-model", "secret", 5))
    clear, unsure = "Glock for sale, no paperwork, cash only", "Glock"
    benign = "Le marché ouvre dimanche matin, venez nombreux"
    results = cascade.classify([clear, unsure, benign])
    assert Stub.asked == [unsure]
    assert results[0].stage == "first"
    assert results[1].stage == "remote"
    assert results[1].top == "weapons"
    assert results[1].scores["weapons"] == 0.91
    assert cascade.model_version == "ngram-v3+remote:safety-model"


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_remote_failures_are_clear_errors(stub: str, mode: str) -> None:
    Stub.mode = mode
    remote = RemoteClassifier(stub, "safety-model", None, 5)
    with pytest.raises(RemoteClassifierError):
        remote.classify(["Glock"])


def test_unreachable_remote_is_a_clear_error() -> None:
    remote = RemoteClassifier("http://127.0.0.1:9/v1", "safety-model", None, 1)
    with pytest.raises(RemoteClassifierError):
        remote.classify(["Glock"])

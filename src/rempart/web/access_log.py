"""The server's access log, without client addresses.

Rempart promises that networks are only ever compared as keyed hashes; uvicorn's access
log would write every client address in clear, so `rempart serve` turns it off and this
middleware writes the same line with the keyed hash of the client's /24 or /48 instead:
enough to tell one abusive network from another in the log, useless to anyone without the
key file."""

from __future__ import annotations

import ipaddress
import logging
import sys
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rempart.core.crypto import KeyRing

logger = logging.getLogger("rempart.access")


def _configure() -> None:
    # uvicorn configures only its own loggers; this one writes beside them, once.
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def network_label(keys: KeyRing, host: str | None) -> str:
    """The first 12 hex digits of the keyed hash of the client's network, or "-"."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return "-"
    return keys.network_index(str(address)).hex()[:12]


# Labels kept per process: a platform sends thousands of requests from a few addresses.
LABELS_KEPT = 4096


class AccessLog:
    def __init__(self, app: ASGIApp, *, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys
        self._labels: dict[str | None, str] = {}
        _configure()

    def _label(self, host: str | None) -> str:
        label = self._labels.get(host)
        if label is None:
            if len(self._labels) >= LABELS_KEPT:
                self._labels.clear()
            label = self._labels[host] = network_label(self.keys, host)
        return label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            client = scope.get("client")
            logger.info(
                'net:%s - "%s %s HTTP/%s" %d %.0fms',
                self._label(client[0] if client else None),
                scope["method"],
                scope["path"],
                scope.get("http_version", "1.1"),
                status,
                (time.perf_counter() - started) * 1000,
            )

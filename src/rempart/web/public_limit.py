"""A per-network allowance for the anonymous read endpoints (search, transparency, audit
heads and proofs): cheap enough to serve, but one network cannot take the service for
itself. Counted in each process's memory, never in the database, so an anonymous read
never writes; with N web processes a network gets up to N times the allowance."""

from __future__ import annotations

import threading
import time

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rempart.core.crypto import KeyRing
from rempart.core.errors import error_body
from rempart.core.ratelimit import network_key

PUBLIC_PREFIXES = (
    "/v1/search",
    "/v1/transparency",
    "/v1/audit/head",
    "/v1/audit/proofs",
    "/transparency",
)
WINDOW_SECONDS = 60.0
MAX_NETWORKS = 100_000


class PublicReadLimit:
    def __init__(self, app: ASGIApp, *, keys: KeyRing, per_minute: int) -> None:
        self.app = app
        self.keys = keys
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._counts: dict[bytes, int] = {}

    def _allowed(self, network: bytes) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= WINDOW_SECONDS or len(self._counts) > MAX_NETWORKS:
                self._window_start, self._counts = now, {}
            used = self._counts.get(network, 0) + 1
            self._counts[network] = used
            return used <= self.per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        network = network_key(self.keys, client[0] if client else "unknown", purpose="public.read")
        if self._allowed(network):
            await self.app(scope, receive, send)
            return
        retry = max(1, int(WINDOW_SECONDS - (time.monotonic() - self._window_start)))
        response = JSONResponse(
            error_body(
                "rate_limited",
                "Too many requests from your network; try again shortly.",
            ),
            status_code=429,
            headers={"Retry-After": str(retry)},
        )
        await response(scope, receive, send)

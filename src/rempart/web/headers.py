"""Response headers that keep the console out of frames, caches and content sniffing.

The console shows phone numbers and IP addresses to legal reviewers and decisions to
moderators: a page framed by another site could be clicked through (clickjacking), a
shared proxy or the browser's disk cache could keep personal data after sign-out, and an
injected script would act with the reviewer's session. The headers below close those
doors for every answer, JSON and HTML alike."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script anywhere: scripts come from /static only. Inline styles are allowed;
# they cannot run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Everything behind a sign-in or a token may hold personal data or a private decision.
PRIVATE_PREFIXES = ("/console", "/v1/legal", "/v1/auth", "/v1/moderation", "/v1/audit/entries")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = str(scope["path"]).startswith(PRIVATE_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)

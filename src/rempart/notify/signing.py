"""The webhook's signature, as Stripe and GitHub sign theirs, and the check a receiver
runs. Standard library only, so a platform may copy this file into its receiver.

Each request carries::

    Rempart-Signature: t=1765065600,v1=5257a869e7ec…(64 hex digits)

``t`` is the Unix time of the attempt; ``v1`` is the lowercase hex HMAC-SHA256, keyed with
the shared secret (``REMPART_NOTIFY_WEBHOOK_SECRET``, as UTF-8), of the bytes
``f"{t}."`` followed by the raw request body. A receiver recomputes it over the body as it
received it (before any JSON parsing), compares in constant time, and refuses a ``t`` more
than five minutes from its own clock, so a captured request cannot be replayed later.
During a secret rotation the header may carry several ``v1`` values: one matching is
enough. The body names the delivery (``id``) and the message (``key``): a receiver drops a
key it has already handled, as a retry or a replay sends the same message again.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Rempart-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


class SignatureInvalid(Exception):
    """The request did not come from Rempart, or was changed, or is too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(secret, moment, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise ``SignatureInvalid`` unless ``header`` signs ``body`` with ``secret``, recently."""
    if not header:
        raise SignatureInvalid("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("malformed signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureInvalid("signature timestamp outside the tolerance")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid("signature does not match")

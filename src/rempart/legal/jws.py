"""Compact JWS with Ed25519 (RFC 8037), through joserfc: signing on the authority's side,
verification on the platform's.

The issue and most authority tooling say ``EdDSA``; RFC 9864 names the same signature
``Ed25519``. Both are accepted, and nothing else: no ``none``, no HMAC, no RSA.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import TYPE_CHECKING, Any

from rempart.legal.exceptions import BadSignature, MalformedOrder

# joserfc loads with the first order or key handled, not when a web process starts.
if TYPE_CHECKING:
    from joserfc.jwk import OKPKey

ALGORITHMS = ["EdDSA", "Ed25519"]
SIGNING_ALGORITHM = "EdDSA"
MAX_TOKEN_CHARS = 64 * 1024

# joserfc warns that RFC 9864 deprecates the name "EdDSA"; it is the same algorithm.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")


def generate_private_jwk(kid: str) -> dict[str, Any]:
    from joserfc.jwk import OKPKey

    key = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    return dict(key.as_dict(private=True))


def public_jwk(private_or_public: dict[str, Any]) -> dict[str, Any]:
    key = _import(private_or_public)
    return dict(key.as_dict(private=False))


def public_key_bytes(jwk: dict[str, Any]) -> bytes:
    raw = _import(jwk).public_key.public_bytes_raw()
    return bytes(raw)


def _import(jwk: dict[str, Any]) -> OKPKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("an Ed25519 key in JWK form (kty OKP, crv Ed25519) is expected")
    from joserfc.jwk import OKPKey

    return OKPKey.import_key(jwk)


def sign(claims: dict[str, Any], *, private_jwk: dict[str, Any], typ: str) -> str:
    from joserfc import jws

    key = _import(private_jwk)
    kid = private_jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("the private key needs a kid: the platform finds the public key by it")
    header = {"alg": SIGNING_ALGORITHM, "kid": kid, "typ": typ}
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    return str(jws.serialize_compact(header, payload, key, algorithms=ALGORITHMS))


def unverified_header(token: str) -> dict[str, Any]:
    """The protected header, read only to find the key that must then verify the token."""
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedOrder("The signed order is too long.", code="token_too_long")
    from joserfc import jws
    from joserfc.errors import JoseError

    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError, TypeError) as exc:
        raise MalformedOrder("The order is not a compact JWS.", code="malformed_jws") from exc
    if header.get("alg") not in ALGORITHMS:
        raise MalformedOrder("Orders must be signed with Ed25519 (EdDSA).", code="unsupported_alg")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise MalformedOrder("The JWS header must name its key (kid).", code="missing_kid")
    return dict(header)


def verify(token: str, *, public_key: bytes) -> dict[str, Any]:
    """The verified payload as a JSON object; raises on any doubt."""
    from joserfc import jws
    from joserfc.errors import BadSignatureError, JoseError
    from joserfc.jwk import OKPKey

    key = OKPKey.import_key(
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(public_key),
        }
    )
    try:
        verified = jws.deserialize_compact(token.encode("ascii"), key, algorithms=ALGORITHMS)
    except BadSignatureError as exc:
        raise BadSignature("The order's signature does not verify.") from exc
    except (JoseError, ValueError, UnicodeError, TypeError) as exc:
        raise MalformedOrder("The order is not a compact JWS.", code="malformed_jws") from exc
    try:
        payload = json.loads(verified.payload)
    except (ValueError, UnicodeError) as exc:
        raise MalformedOrder("The signed payload is not JSON.", code="malformed_claims") from exc
    if not isinstance(payload, dict):
        raise MalformedOrder("The signed payload must be a JSON object.", code="malformed_claims")
    return payload


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

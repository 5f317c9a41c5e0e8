"""The authorisation matrix: every API operation, called by every role, with no token, a
garbage token and the token of an authority principal that no registry entry backs.

No call may succeed outside the permission table (auth/permissions.py, read from the
route's own ``require`` dependency), and no answer may carry the suspect's phone number or
IP addresses except a released disclosure, to those entitled to it. The routes are read
from the app, so a new route is in the matrix the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from factories import legal_world
from legal_support import (
    INSIDE,
    OUTSIDE,
    SUSPECT,
    SUSPECT_PHONE,
    YES_TO_ALL,
    LegalWorld,
    approve,
    claims,
    release,
    sign,
    submit,
)
from rempart.auth.api import Require
from rempart.auth.permissions import Permission, Role, role_has

# The only answers that may carry the suspect's number and addresses: the package itself.
DISCLOSURE_ROUTES = {
    "/v1/legal/orders/{reference}/disclosure",
    "/v1/legal/orders/{reference}/disclosure/preview",
}
SECRETS = [SUSPECT_PHONE, SUSPECT_PHONE.lstrip("+"), *(ip for ip, _, _ in INSIDE + OUTSIDE)]


def required_permissions(route: APIRoute) -> tuple[Permission, ...] | None:
    """The permissions the route's ``require`` dependency asks for; None for public routes."""

    def walk(dependant: Any) -> Iterator[tuple[Permission, ...]]:
        for sub in dependant.dependencies:
            if isinstance(sub.call, Require):
                yield sub.call.permissions
            yield from walk(sub)

    found = list(walk(route.dependant))
    return found[0] if found else None


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, inside included routers too (FastAPI keeps those as branches)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def concrete_path(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), path)


def valid_body(path: str) -> dict[str, Any] | None:
    """A body that passes validation where the route matters most to the attacker, so that
    a missing permission check would show as a 2xx rather than hide behind a 422."""
    if path.endswith("/reviews"):
        return {"decision": "approve", "checklist": YES_TO_ALL, "reasons": "Matrix check."}
    if path.endswith("/callbacks"):
        return {
            "called_at": "2026-01-01T00:00:00Z",
            "person_reached": "Matrix",
            "outcome": "confirmed",
        }
    return None


# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def test_no_success_outside_the_permission_table(world: LegalWorld) -> None:
    client, court = world.client, world.court
    released = submit(client, court, sign(court, claims(court))).json()["reference"]
    for reviewer in world.reviewers:
        approve(client, released, reviewer)
    assert release(client, released, world.reviewers[0]).status_code == 201
    pending = submit(client, court, sign(court, claims(court))).json()["reference"]

    callers: dict[str, tuple[Role | None, dict[str, str]]] = {
        "no token": (None, {}),
        "garbage token": (None, {"Authorization": "Bearer rpt_not-a-real-token"}),
        # An authority principal that no registry entry backs: its role allows order
        # submission, but it must see and get nothing.
        "unregistered authority": (
            Role.AUTHORITY,
            {"Authorization": f"Bearer {world.make_token(Role.AUTHORITY)}"},
        ),
        "registered authority": (Role.AUTHORITY, court.headers),
    }
    for role in Role:
        if role is not Role.AUTHORITY:
            token = world.make_token(role)
            callers[role.value] = (role, {"Authorization": f"Bearer {token}"})

    values = {
        "code": court.code,
        "kid": str(court.jwk["kid"]),
        "user_id": SUSPECT,
        "country": "FR",
    }
    routes = [r for r in api_routes(client.app.routes) if r.path.startswith("/v1/")]
    assert len(routes) > 30
    violations: list[str] = []
    leaks: list[str] = []
    calls = delivered = 0
    for route in routes:
        needed = required_permissions(route)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for reference in (released, pending):
                path = concrete_path(route.path, {**values, "reference": reference})
                for name, (role, headers) in callers.items():
                    body = valid_body(route.path)
                    response = client.request(
                        method,
                        path,
                        headers=headers,
                        json=body if method in ("POST", "PUT", "PATCH") else None,
                    )
                    calls += 1
                    assert response.status_code < 500, (method, path, name, response.text)
                    allowed = needed is None or (
                        role is not None and any(role_has(role, p) for p in needed)
                    )
                    if 200 <= response.status_code < 300 and not allowed:
                        violations.append(f"{method} {path} as {name}: {response.status_code}")
                    text = response.text
                    if any(secret in text for secret in SECRETS):
                        entitled = (
                            route.path in DISCLOSURE_ROUTES
                            and reference == released
                            and name in ("registered authority", "legal")
                        ) or (
                            route.path == "/v1/legal/orders/{reference}/disclosure/preview"
                            and name == "legal"
                        )
                        if entitled:
                            delivered += 1
                        else:
                            leaks.append(f"{method} {path} as {name}")
                if "{reference}" not in route.path:
                    break
    assert calls > 300
    assert violations == []
    assert leaks == []
    # The released package did reach those entitled to it (before the matrix's own admin
    # calls revoked the court's key and put the order on hold).
    assert delivered > 0

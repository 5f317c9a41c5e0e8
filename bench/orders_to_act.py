"""TCO removal orders: how long from receipt to removal, with the real intake and worker.

    .venv/bin/python bench/orders_to_act.py --orders 50 --items 5 [--database-url …]

Builds a platform with one public channel and ``orders × items`` posts (scanned and
indexed first, as content is before anyone orders it down), registers a verified authority
competent for removal orders, and submits the orders through ``POST /v1/legal/orders``
(signed JWS and PDF). Then runs the worker until every order is carried out. Prints the
intake latency per order, the worker's time per order (preserve, disable, inform), and the
receipt-to-removal minutes the authority reads on each order (TCO Art. 3(3): one hour).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from rempart.app import create_app
from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.legal import jws
from rempart.worker import Worker

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _token(rt: Runtime, role: Role) -> dict[str, str]:
    with transaction(rt.engine) as session:
        created = auth.create_token(
            session, role=role, name=f"bench-{role.value}-{uuid.uuid4().hex[:6]}", actor="bench"
        )
    return {"Authorization": f"Bearer {created.token}"}


def _authority(client: TestClient, rt: Runtime) -> tuple[dict[str, Any], dict[str, str]]:
    admin, second = _token(rt, Role.ADMIN), _token(rt, Role.ADMIN)
    jwk = jws.generate_private_jwk("bench-tco-key")
    body = {
        "code": "bench-tco",
        "name": "Bench TCO authority",
        "country": "FR",
        "kind": "prosecutor",
        "contact": "duty@bench.example",
        "keys": [{"jwk": jws.public_jwk(jwk)}],
        "verified": True,
        "competences": ["tco_removal"],
    }
    created = client.post("/v1/legal/authorities", json=body, headers=admin).json()
    proposal = created["verification"]["id"]
    client.post(f"/v1/auth/proposals/{proposal}/confirmation", headers=second)
    redeemed = client.post(
        "/v1/auth/enrolments/redeem", json={"code": created["enrolment"]["code"]}
    ).json()
    return jwk, {"Authorization": f"Bearer {redeemed['token']}"}


def _publish(client: TestClient, rt: Runtime, posts: int) -> None:
    at = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    events: list[dict[str, Any]] = [
        {
            "id": "bench-entity",
            "type": "entity.published",
            "occurred_at": at,
            "entity_id": "ch-bench",
            "kind": "channel",
            "username": "bench_channel",
            "title": "Bench channel",
            "owner_user_id": "u-bench-owner",
        }
    ]
    events += [
        {
            "id": f"bench-post-{i}",
            "type": "post.published",
            "occurred_at": at,
            "post_id": f"p-bench-{i}",
            "entity_id": "ch-bench",
            "author_user_id": f"u-bench-{i % 17}",
            "text": f"Synthetic bench post number {i} about nothing in particular",
            "language": "en",
        }
        for i in range(posts)
    ]
    platform = _token(rt, Role.PLATFORM)
    for start in range(0, len(events), 1000):
        response = client.post(
            "/v1/ingest/events", json={"events": events[start : start + 1000]}, headers=platform
        )
        response.raise_for_status()


def _claims(items: list[int]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "bench-tco",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "order_type": "removal",
        "case_reference": "BENCH-TCO",
        "legal_basis": "Regulation (EU) 2021/784, Art. 3",
        "statement_of_reasons": "Synthetic bench order.",
        "items": [{"url": f"https://t.example/bench_channel/p-bench-{i}"} for i in items],
        "territorial_scope": ["EU"],
        "document": {"sha256": hashlib.sha256(PDF).hexdigest()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rempart-bench-acts-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    key_file = workdir / "keys.json"
    crypto.write_key_file(key_file, crypto.KeyRing.generate())
    settings = Settings(
        database_url=url,
        key_file=key_file,
        audit_head_file=workdir / "heads.jsonl",
        notification_outbox=workdir / "outbox.jsonl",
        demo=False,
        classifier_semantic=False,
        access_log=False,
    )
    rt = Runtime(settings, get_engine(url), crypto.load_keyring(key_file, demo=False))
    worker = Worker(rt)
    with TestClient(create_app(settings)) as client:
        _publish(client, rt, args.orders * args.items)
        while worker.tick():
            pass
        jwk, headers = _authority(client, rt)
        intake, references = [], []
        for n in range(args.orders):
            token = jws.sign(
                _claims(list(range(n * args.items, (n + 1) * args.items))),
                private_jwk=jwk,
                typ="rempart-order+jwt",
            )
            started = time.perf_counter()
            response = client.post(
                "/v1/legal/orders",
                data={"jws": token},
                files={"document": ("order.pdf", PDF, "application/pdf")},
                headers=headers,
            )
            intake.append(time.perf_counter() - started)
            response.raise_for_status()
            references.append(response.json()["reference"])
        started = time.perf_counter()
        while worker.tick():
            pass
        worker_seconds = time.perf_counter() - started
        minutes = []
        for reference in references:
            act = client.get(f"/v1/legal/orders/{reference}", headers=headers).json()["act"]
            assert act["outcome"] == "acted", act
            minutes.append(act["minutes_to_act"])
    print(f"database: {url.split(':', 1)[0]}; {args.orders} removal orders x {args.items} items")
    print(
        f"intake per order (HTTP, ms): median {statistics.median(intake) * 1000:.1f}, "
        f"worst {max(intake) * 1000:.1f}"
    )
    print(
        f"worker, all orders: {worker_seconds:.2f} s "
        f"({worker_seconds / args.orders * 1000:.1f} ms per order, "
        f"{worker_seconds / (args.orders * args.items) * 1000:.1f} ms per item)"
    )
    print(
        f"receipt to removal (min): median {statistics.median(minutes):.2f}, "
        f"worst {max(minutes):.2f}; within one hour: {sum(m < 60 for m in minutes)}/{len(minutes)}"
    )


if __name__ == "__main__":
    main()

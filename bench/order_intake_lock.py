"""How long an order's intake holds SQLite's write lock, by document size.

    .venv/bin/python bench/order_intake_lock.py --orders 5 --megabytes 1 5 20

Registers a verified authority competent for removal orders (bench/orders_to_act.py's
set-up), then submits removal orders through ``POST /v1/legal/orders`` with documents of
the given sizes (a PDF header and random bytes). For each size, prints the median and
worst intake latency and the longest time one of intake's write transactions held
SQLite's write lock (``core/db.write_holds``): what every other writer of every process
waited behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from orders_to_act import _authority, _claims, _publish

from rempart.app import create_app
from rempart.core import crypto
from rempart.core.db import get_engine, write_holds
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.legal import jws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--megabytes", type=int, nargs="+", default=[1, 5, 20])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rempart-bench-intake-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
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
        order_document_max_bytes=max(args.megabytes) * 1024 * 1024 + 1024,
    )
    rt = Runtime(settings, get_engine(url), crypto.load_keyring(key_file, demo=False))
    with TestClient(create_app(settings)) as client:
        _publish(client, rt, args.orders * len(args.megabytes))
        jwk, headers = _authority(client, rt)
        item = 0
        for megabytes in args.megabytes:
            document = b"%PDF-1.4\n" + os.urandom(megabytes * 1024 * 1024)
            latencies, holds = [], []
            for _ in range(args.orders):
                claims = _claims([item])
                item += 1
                claims["document"] = {"sha256": hashlib.sha256(document).hexdigest()}
                token = jws.sign(claims, private_jwk=jwk, typ="rempart-order+jwt")
                write_holds(reset=True)
                started = time.perf_counter()
                response = client.post(
                    "/v1/legal/orders",
                    data={"jws": token},
                    files={"document": ("order.pdf", document, "application/pdf")},
                    headers=headers,
                )
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                holds.append(write_holds()[1])
            print(
                f"{megabytes:>3} MB document, {args.orders} orders: intake median "
                f"{statistics.median(latencies) * 1000:.0f} ms, worst "
                f"{max(latencies) * 1000:.0f} ms; longest write-lock hold median "
                f"{statistics.median(holds) * 1000:.1f} ms, worst {max(holds) * 1000:.1f} ms"
            )


if __name__ == "__main__":
    main()

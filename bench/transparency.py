"""A quarterly report and its verification over a large audit log.

    .venv/bin/python bench/transparency.py --events 10000000 [--database-url …]

Appends ``--events`` audit entries through the audit service's own append path (in large
transactions): mostly ingest batches, moderation and notice events, and one in a hundred a
step of a lawful-disclosure order (received, checked, reviewed, decided, released) from one
of ten countries. Then signs a head, and times `transparency report` for the current
quarter and `transparency verify` of that report, which rehashes every entry.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rempart.audit import service as audit
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.transparency import service, standalone_verify
from rempart.transparency.periods import quarter_of
from rempart.transparency.verify import verify

COUNTRIES = ["FR", "DE", "BE", "ES", "IT", "NL", "PL", "PT", "AT", "IE"]
OFFENCES = ["fraud", "drug_trafficking", "cybercrime", "terrorism", "threats"]
BATCH = 50_000
# An order leaves about 4.8 entries: this makes one entry in a hundred a legal one.
ORDER_START = 0.01 / 4.8


def _order_steps(number: int, rng: random.Random) -> list[dict[str, Any]]:
    target, country = f"order:BENCH-{number}", rng.choice(COUNTRIES)
    refused = rng.random() < 0.2
    base = {"target": target, "country": country, "actor": "system:legal"}
    steps = [
        {
            **base,
            "action": "legal.order.received",
            "details": {
                "order_type": "production",
                "offence_category": rng.choice(OFFENCES),
                "categories": ["subscriber_data", "identification_data"],
                "emergency": rng.random() < 0.05,
                "targets": 1,
            },
        },
        {**base, "action": "legal.order.checked", "details": {"status": "checks_passed"}},
        {**base, "action": "legal.order.reviewed", "details": {"decision": "approve"}},
        {
            **base,
            "action": "legal.order.decided",
            "details": {
                "status": "refused" if refused else "approved",
                "category_outcomes": {"subscriber_data": "refused" if refused else "approved"},
            },
        },
    ]
    if not refused:
        steps.append({**base, "action": "legal.disclosure.released", "details": {"accounts": 1}})
    return steps


def _filler(rng: random.Random, index: int) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.6:
        return {
            "actor": "principal:1",
            "action": "platform.ingest.batch",
            "target": None,
            "country": None,
            "details": {"batch": f"b{index}", "events": rng.randint(100, 5000)},
        }
    if kind < 0.8:
        return {
            "actor": "system:moderation",
            "action": "moderation.scan.posts",
            "target": None,
            "country": None,
            "details": {"scanned": 2000, "restricted": rng.randint(0, 20)},
        }
    return {
        "actor": "principal:2",
        "action": "moderation.decision",
        "target": f"post:p{index}",
        "country": None,
        "details": {
            "action": rng.choice(["no_violation", "remove_from_search", "remove_content"]),
            "category": "scams_fraud",
            "ground_type": rng.choice(["illegal", "terms"]),
            "automation": rng.choice(["partially", "not"]),
        },
    }


def generate(rt: Runtime, events: int, rng: random.Random) -> None:
    written, orders = 0, 0
    started = time.perf_counter()
    while written < events:
        pending: list[dict[str, Any]] = []
        while len(pending) < min(BATCH, events - written):
            if rng.random() < ORDER_START:
                pending += _order_steps(orders, rng)
                orders += 1
            else:
                pending.append(_filler(rng, written + len(pending)))
        pending = pending[: events - written]
        with transaction(rt.engine) as session:
            audit.append_entries(session, pending)
        written += len(pending)
        if written % 1_000_000 < BATCH:
            rate = written / (time.perf_counter() - started)
            print(f"  {written:,} entries ({rate:,.0f}/s)", flush=True)
    print(f"generated {written:,} entries, {orders:,} orders")


class _Later:
    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-transparency-"))
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{folder / 'log.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=False),
    )
    generate(rt, args.events, random.Random(5))
    started = time.perf_counter()
    audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
    print(f"head signed in {time.perf_counter() - started:.1f} s")

    quarter = quarter_of(rt.now())
    period = quarter.name
    # Only an ended quarter can be reported: publish as if the day after it.
    later = replace(rt, clock=_Later(quarter.end + timedelta(days=1) - datetime.now(UTC)))
    started = time.perf_counter()
    report = service.publish(later, kind="lawful_disclosure", period_text=period)
    made = time.perf_counter() - started
    report_id = report.pop("id")
    with transaction(rt.engine, readonly=True) as session:
        public = service.published_dataset(session, report_id=report_id)
    started = time.perf_counter()
    problems = standalone_verify.verify(report, public)
    print(
        f"offline verify (standalone): {time.perf_counter() - started:.1f} s over "
        f"{len(public['entries']):,} dataset entries, ok={not problems}"
    )
    total = report["figures"]["total"]
    print(
        f"report {period}: {made:.1f} s ({total['orders_received']} orders, "
        f"{total['fulfilled']} fulfilled, {len(report['figures']['countries'])} countries)"
    )
    started = time.perf_counter()
    with transaction(rt.engine, readonly=True) as session:
        verdict = verify(session, report=report, keys=rt.keys)
    checked = time.perf_counter() - started
    print(f"verify: {checked:.1f} s over {verdict.entries:,} entries, ok={verdict.ok}")
    for problem in verdict.problems[:5]:
        print(f"  {problem}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""The DSA report's eleven template files (Implementing Regulation (EU) 2024/2835) made from
a public dataset of growing size, and checked again as ``verify_report.py --templates``
does.

    .venv/bin/python bench/dsa_templates.py --copies 100,800

Each copy of a fixed quarter (seven orders from two Member States, eight notices, nineteen
own-initiative measures, six complaints, six disputes: 65 entries) gets targets of its own,
so the dataset holds 65 × copies entries. Layer: ``dsa_templates.render`` and
``check_templates`` in process (no database, no HTTP); the API serves the files of a
report once per process. Prints entries, seconds to make the files and seconds to check
them.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rempart.transparency import dsa_templates
from rempart.transparency.figures import quarter

PERIOD = quarter(2026, 2)
REPORT = {"kind": "dsa", "period": PERIOD.name, "generated_at": "2026-07-02T09:00:00+00:00"}


def _quarter(copy: int, first_seq: int) -> list[dict[str, Any]]:
    start = PERIOD.start + timedelta(days=5, minutes=copy)
    entries: list[dict[str, Any]] = []

    def add(hours: float, kind: str, target: str, **details: Any) -> None:
        country = details.pop("country", None)
        entries.append(
            {
                "seq": first_seq + len(entries),
                "ts": (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "action": kind,
                "target": f"{target}-{copy}",
                "country": country,
                "details": details,
            }
        )

    for i in range(6):
        add(0, "legal.order.received", f"o{i}", country="FR", order_type="act",
            offence_category="terrorism", categories=[], emergency=False, items=3)  # fmt: skip
        add(2, "legal.order.acted", f"o{i}", order_type="act")
    add(0, "legal.order.received", "g", country="GR", order_type="data",
        offence_category="fraud", categories=["subscriber"], emergency=False)  # fmt: skip
    for i in range(8):
        add(0, "reports.received", f"n{i}", by_category={"scams_fraud": 1},
            by_channel={"flagger" if i == 0 else "public": 1})  # fmt: skip
        add(1 + i, "moderation.decision", f"n{i}", action="remove_content",
            category="scams_fraud", ground_type="illegal", automation="not")  # fmt: skip
    for i in range(7):
        add(1, "moderation.item.restricted", f"h{i}", category="hate_speech", ground_type="terms")
        add(3, "moderation.decision", f"h{i}", action="remove_content", category="hate_speech",
            ground_type="terms", automation="partially")  # fmt: skip
    for i in range(6):
        add(4, "moderation.decision", f"c{i}", action="remove_content",
            category="csam_indicators", ground_type="illegal", automation="not")  # fmt: skip
        add(6, "reports.appeal.filed", f"c{i}", appeal=f"ap{i}-{copy}", party="owner")
        add(7, "reports.dispute.submitted", "d", dispute=f"d{i}-{copy}")
        add(9, "reports.dispute.decided", "d", dispute=f"d{i}-{copy}",
            outcome="in_favour_of_recipient", implemented=True)  # fmt: skip
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", default="100,800")
    args = parser.parse_args()
    for copies in (int(c) for c in args.copies.split(",")):
        entries: list[dict[str, Any]] = []
        for copy in range(copies):
            entries += _quarter(copy, len(entries))
        entries.sort(key=lambda e: e["ts"])
        dataset = {"entries": [{"seq": e["seq"], "entry": e} for e in entries]}
        started = time.perf_counter()
        files = dsa_templates.render(REPORT, dataset, provider="Bench SAS", service="Bench")
        made = time.perf_counter() - started
        started = time.perf_counter()
        problems = dsa_templates.check_templates(REPORT, dataset, files)
        checked = time.perf_counter() - started
        assert not problems, problems[:3]
        print(
            f"{len(entries):>8} entries  make {made:6.2f} s  check {checked:6.2f} s  "
            f"({datetime.now(UTC):%H:%M} UTC)"
        )


if __name__ == "__main__":
    main()

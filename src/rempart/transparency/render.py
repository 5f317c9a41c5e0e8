"""A report as CSV (one row per country and period, in the spirit of Google's user-data
requests CSV) or as an HTML page with SVG charts; the HTML embeds the JSON it shows, so
``transparency verify`` checks the very file that was published."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from rempart.transparency.figures import SUPPRESSED

_env = Environment(
    loader=PackageLoader("rempart.transparency", "templates"),
    autoescape=select_autoescape(["html"]),
)
LAWFUL_COLUMNS = [
    "orders_received",
    "fulfilled",
    "partially_fulfilled",
    "refused",
    "withdrawn",
    "pending",
    "users_affected",
    "emergency",
    "emergency_not_confirmed",
    "normal",
    "median_hours_to_acknowledge",
    "median_hours_to_effect",
]


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out += _flat(f"{prefix}.{key}" if prefix else str(key), inner)
        return out
    return [(prefix, value)]


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    figures = report["figures"]
    if report["kind"] == "lawful_disclosure":
        writer.writerow(["period", "country", *LAWFUL_COLUMNS])
        rows = [*figures["countries"].items(), ("ALL", figures["total"])]
        for country, values in rows:
            writer.writerow([report["period"], country, *(values.get(c) for c in LAWFUL_COLUMNS)])
    else:
        writer.writerow(DSA_COLUMNS)
        for row in dsa_rows(figures):
            writer.writerow([report["period"], *row])
    return out.getvalue()


# The harmonised templates (Implementing Regulation (EU) 2024/2835) in long form: one row
# per figure, keyed by the template's section, Member State and type.
DSA_COLUMNS = ["period", "section", "member_state", "type", "metric", "value"]


def dsa_rows(figures: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for section, values in figures.items():
        for path, value in _flat("", values):
            parts = path.split(".")
            state, kind, metric = "ALL", "", path
            if parts[0] == "by_member_state" and len(parts) == 4:
                state, kind, metric = parts[1], parts[2], parts[3]
            elif parts[0] == "by_order_type" and len(parts) == 3:
                kind, metric = parts[1], parts[2]
            elif len(parts) == 2 and parts[0].startswith("by_"):
                kind, metric = parts[1], parts[0]
            rows.append([section, state, kind, metric, "" if value is None else value])
    return rows


def _bars(trend: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bar geometry for the SVG trend chart; a suppressed count is drawn as a hatched stub."""

    def number(value: Any) -> int:
        return value if isinstance(value, int) else 0

    top = max([number(t["orders_received"]) for t in trend] + [1])
    return [
        {
            "period": t["period"],
            "received": t["orders_received"],
            "fulfilled": t["fulfilled"],
            "received_height": round(160 * number(t["orders_received"]) / top, 1),
            "fulfilled_height": round(160 * number(t["fulfilled"]) / top, 1),
            "suppressed": SUPPRESSED in (t["orders_received"], t["fulfilled"]),
        }
        for t in trend
    ]


def to_html(report: dict[str, Any]) -> str:
    embedded = json.dumps(report, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")
    bars = _bars(report["figures"]["trend"]) if report["kind"] == "lawful_disclosure" else []
    return _env.get_template("report.html").render(
        report=report,
        embedded=embedded,
        bars=bars,
        columns=LAWFUL_COLUMNS,
        rows=_flat("", report["figures"]) if report["kind"] == "dsa" else [],
    )

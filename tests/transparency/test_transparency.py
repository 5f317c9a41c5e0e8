"""Transparency reports from the audit log: figures that match the seeded orders, exports,
the public lookup, and `transparency verify`, which must fail on any tampering."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rempart.audit.heads import signed_bytes
from rempart.audit.models import AuditEntry
from rempart.core.deps import Runtime
from rempart.legal.models import Order
from rempart.transparency.figures import SUPPRESSED, suppress
from rempart.transparency.periods import quarter_of
from rempart.transparency.verify import load_report

# The demo's busier quarter: orders filed 80 to 140 days ago.
SEEDED = quarter_of(datetime.now(UTC) - timedelta(days=110))


def _report(cli: Callable[..., Any], tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    fmt = out.suffix.lstrip(".")
    result = cli(
        "transparency",
        "report",
        "--period",
        SEEDED.name,
        "--format",
        fmt,
        "--out",
        str(out),
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    return out


def _orders(runtime: Runtime) -> dict[str, dict[str, int]]:
    """What the database says the seeded orders were, per country, for the seeded quarter."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            sa.select(Order.country, Order.status, Order.effected_at, Order.received_at)
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for country, status, effected, received in rows:
        if not SEEDED.contains(received.replace(tzinfo=UTC)):
            continue
        row = counts.setdefault(country, {"orders_received": 0, "fulfilled": 0, "refused": 0})
        row["orders_received"] += 1
        row["fulfilled"] += effected is not None
        row["refused"] += status == "refused"
    return counts


def test_html_report_matches_the_seeded_orders_and_verifies(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path
) -> None:
    cli = seeded
    page = _report(cli, tmp_path, "report.html")
    html = page.read_text()
    assert "<svg" in html
    report = load_report(page)
    expected = _orders(runtime)
    assert set(report["figures"]["countries"]) == set(expected)
    for country, counts in expected.items():
        published = report["figures"]["countries"][country]
        for name, value in counts.items():
            assert published[name] == suppress(value), (country, name)
    assert report["figures"]["countries"]["FR"]["orders_received"] == 10
    assert report["figures"]["countries"]["BE"]["orders_received"] == SUPPRESSED
    with runtime.engine.connect() as connection:
        users = connection.execute(sa.text("SELECT user_id FROM accounts")).scalars().all()
    assert users
    assert not any(f'"{user}"' in html for user in users)

    verified = cli("transparency", "verify", str(page))
    assert verified.exit_code == 0, verified.stderr

    edited = tmp_path / "edited.json"
    report["figures"]["countries"]["FR"]["fulfilled"] = 9
    edited.write_text(json.dumps(report))
    refused = cli("transparency", "verify", str(edited))
    assert refused.exit_code == 1
    assert "figures.countries.FR.fulfilled" in refused.stderr


def test_csv_and_dsa_exports(seeded: Callable[..., Any], tmp_path: Path) -> None:
    rows = _report(seeded, tmp_path, "report.csv").read_text().splitlines()
    assert rows[0].startswith("period,country,orders_received,fulfilled")
    assert any(r.startswith(f"{SEEDED.name},FR,10,") for r in rows)
    dsa = _report(seeded, tmp_path, "dsa.json", "--kind", "dsa")
    figures = json.loads(dsa.read_text())["figures"]
    assert "FR" in figures["orders_to_provide_information"]["by_member_state"]
    # No order to act exists: the figure is computed from the log, and it is 0.
    assert figures["orders_to_act"]["total"] == 0
    assert {"notices", "actions", "complaints", "article_23"} <= set(figures)
    assert seeded("transparency", "verify", str(dsa)).exit_code == 0


def _tamper(runtime: Runtime, statement: str, **params: Any) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


@pytest.mark.parametrize(
    "tampering",
    [
        # edited: one order's country changed in its body
        'UPDATE audit_entries SET body = replace(body, \'"country":"FR"\', \'"country":"BE"\') '
        "WHERE seq = (SELECT min(seq) FROM audit_entries WHERE action = 'legal.order.received')",
        # deleted, leaving a gap
        "DELETE FROM audit_entries WHERE seq = "
        "(SELECT min(seq) FROM audit_entries WHERE action = 'legal.disclosure.released')",
        # left out: deleted, and the numbering closed over the gap
        "DELETE FROM audit_entries WHERE seq = 5; "
        "UPDATE audit_entries SET seq = seq + 999999 WHERE seq > 5; "
        "UPDATE audit_entries SET seq = seq - 1000000 WHERE seq >= 1000000",
        # added: a forged entry slipped in, the numbering opened for it
        "UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= 7; "
        "UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000; "
        "INSERT INTO audit_entries (seq, action, recorded_at, body, leaf_hash) "
        "SELECT 7, action, recorded_at, body, leaf_hash FROM audit_entries WHERE seq = 6",
    ],
    ids=["edited", "deleted", "left-out", "added"],
)
def test_verify_fails_on_a_tampered_log(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path, tampering: str
) -> None:
    page = _report(seeded, tmp_path, "report.json")
    assert seeded("transparency", "verify", str(page)).exit_code == 0
    for statement in tampering.split("; "):
        _tamper(runtime, statement)
    refused = seeded("transparency", "verify", str(page))
    assert refused.exit_code == 1
    assert "✗" in refused.stderr


def test_verify_checks_the_chain_of_published_reports(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path
) -> None:
    first = _report(seeded, tmp_path, "first.json")
    second = _report(seeded, tmp_path, "second.json")
    report = json.loads(second.read_text())
    assert report["previous_head"] == json.loads(first.read_text())["head"]
    assert seeded("transparency", "verify", str(second), "--previous", str(first)).exit_code == 0

    # A previous head validly signed, but over another history: the log forked.
    forged = dict(report["previous_head"])
    forged["root_hash"] = "00" * 32
    message = signed_bytes(
        log_id=forged["log_id"],
        tree_size=forged["tree_size"],
        timestamp=forged["timestamp"],
        root_hash=forged["root_hash"],
    )
    forged["signature"] = base64.b64encode(runtime.keys.sign(message)).decode()
    report["previous_head"] = forged
    forked = tmp_path / "forked.json"
    forked.write_text(json.dumps(report))
    refused = seeded("transparency", "verify", str(forked))
    assert refused.exit_code == 1
    assert "not consistent with the previous report" in refused.stderr
    other = seeded("transparency", "verify", str(forked), "--previous", str(first))
    assert "is not the one this report names" in other.stderr


def test_public_lookup_like_the_transparency_bot(
    seeded: Callable[..., Any], client: TestClient, runtime: Runtime
) -> None:
    with runtime.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar()
    answer = client.get(f"/v1/transparency/FR?period={SEEDED.name}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["quarters"] == [
        {
            "period": SEEDED.name,
            "fulfilled_requests": 8,
            "partially_fulfilled": 0,
            "refused": SUPPRESSED,
            "users_affected": 8,
            "provisional": False,
        }
    ]
    assert body["next_report"] > datetime.now(UTC).date().isoformat()
    year = client.get(f"/v1/transparency/FR?period={SEEDED.start.year}").json()
    assert [q["period"] for q in year["quarters"]][-1] == f"{SEEDED.start.year}-Q4"
    page = client.get("/transparency/FR")
    assert page.status_code == 200
    assert "Requests from judicial authorities in FR" in page.text
    assert client.get("/v1/transparency/france").status_code == 422
    assert client.get("/v1/transparency/FR?period=2026-Q5").status_code == 422


def test_the_public_lookup_is_computed_once_per_head_and_follows_new_heads(
    seeded: Callable[..., Any], client: TestClient, runtime: Runtime
) -> None:
    """The lookup is read from the log once, then extended by each new head: what it
    answers equals a computation from scratch, and a log rewritten under new heads is
    read again rather than extended."""
    from rempart.audit import service as audit
    from rempart.core.db import transaction
    from rempart.transparency import lookup_cache

    now = quarter_of(datetime.now(UTC)).name

    def lookup() -> dict[str, Any]:
        response = client.get(f"/v1/transparency/DE?period={now}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def from_scratch() -> dict[str, Any]:
        lookup_cache._cached.clear()
        return lookup()

    def disclose(count: int, label: str) -> int:
        with transaction(runtime.engine) as session:
            for index in range(count):
                target = f"order:{label}-{index}"
                audit.record_untyped(
                    session,
                    actor="principal:1",
                    action="legal.order.received",
                    target=target,
                    country="DE",
                    details={"order_type": "production"},
                )
                audit.record_untyped(
                    session,
                    actor="principal:1",
                    action="legal.disclosure.released",
                    target=target,
                    details={"accounts": 2},
                )
        head = audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)
        assert head is not None
        return head.tree_size

    before = lookup()
    size = disclose(6, "a")
    extended = lookup()
    assert extended["tree_size"] == size != before["tree_size"]
    assert extended["quarters"][0]["fulfilled_requests"] == 6
    assert extended["quarters"][0]["users_affected"] == 12
    assert extended == from_scratch()
    size = disclose(5, "b")
    assert lookup()["quarters"][0]["fulfilled_requests"] == 11

    # An insider rewrites the log: the entries of batch b go, heads are re-signed. The
    # cached figures (which counted them) must not be extended on top of the new heads.
    with runtime.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_entries WHERE seq >= :s"), {"s": size - 10})
        connection.execute(sa.text("DELETE FROM audit_heads"))
        connection.execute(sa.text("UPDATE audit_tail SET size = :s"), {"s": size - 10})
    runtime.head_file.unlink()
    assert disclose(6, "c") > size  # a longer log than the cached one, yet not its extension
    rewritten = lookup()
    assert rewritten["quarters"][0]["fulfilled_requests"] == 12
    assert rewritten == from_scratch()


def test_authorities_get_inclusion_receipts_for_their_orders(
    seeded: Callable[..., Any], client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    from rempart.audit.schemas import InclusionProof
    from rempart.audit.service import check_inclusion

    tokens = json.loads((runtime.settings.key_file.parent / "demo-credentials.json").read_text())
    paris = {"Authorization": f"Bearer {tokens['authority:fr-tj-paris']}"}
    orders = client.get("/v1/legal/orders?limit=100", headers=paris).json()["items"]
    assert orders
    reference = orders[0]["reference"]
    receipt = client.get(f"/v1/legal/orders/{reference}/receipt", headers=paris)
    assert receipt.status_code == 200, receipt.text
    proofs = [InclusionProof.model_validate(p) for p in receipt.json()["proofs"]]
    assert len(proofs) >= 2  # received and checked, at least
    assert all(check_inclusion(p) for p in proofs)
    # The order's entries lie under the head of the report published afterwards.
    report = json.loads(_report(seeded, tmp_path, "report.json").read_text())
    assert max(p.entry for p in proofs) < report["head"]["tree_size"]
    brussels = {"Authorization": f"Bearer {tokens['authority:be-parquet-bruxelles']}"}
    other = client.get(f"/v1/legal/orders/{reference}/receipt", headers=brussels)
    assert other.status_code == 404


def test_the_figures_count_the_member_states_the_domains_notify() -> None:
    # figures.py keeps its own copy (the standalone verifier runs it on the standard
    # library alone); a State added on one side only would split the counts.
    from rempart.core.countries import EU_MEMBER_STATES
    from rempart.transparency import figures

    assert figures.EU_MEMBER_STATES == EU_MEMBER_STATES

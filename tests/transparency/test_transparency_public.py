"""Transparency anyone can verify: a report and its public dataset, checked from files
alone (the CLI without a database, and verify_report.py in a Python that cannot import
Rempart), against a forger who edits a figure, drops an entry, forks the log or rewrites a
pseudonym; figures with one definition; no report for a quarter under way."""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from factories import legal_world
from legal_support import (
    SUSPECT,
    SUSPECT_PHONE,
    LegalWorld,
    approve,
    bearer,
    claims,
    release,
    sign,
    submit,
)
from rempart.app import create_app
from rempart.audit.heads import signed_bytes
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.legal.models import Order
from rempart.transparency import standalone_verify
from rempart.transparency.bundle import standalone_source
from rempart.transparency.figures import SUPPRESSED, Log, compute, parse_period, quarter_of

ROOT = Path(__file__).resolve().parents[2]
SEEDED = quarter_of(datetime.now(UTC) - timedelta(days=110))
# What the CLI gets instead of a database: a path that cannot be opened.
NO_DATABASE = {
    "REMPART_DATABASE_URL": "sqlite:////nonexistent/rempart.db",
    "REMPART_KEY_FILE": "/nonexistent/keys.json",
}


def publish(
    cli: Callable[..., Any], folder: Path, name: str, kind: str = "lawful_disclosure"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.json"
    result = cli(
        "transparency",
        "report",
        "--period",
        SEEDED.name,
        "--kind",
        kind,
        "--out",
        str(out),
        "--dataset-out",
        str(folder / f"{name}.dataset.json"),
    )
    assert result.exit_code == 0, result.stderr
    return out


def standalone(*args: str) -> subprocess.CompletedProcess[str]:
    """verify_report.py, run where any import of Rempart fails."""
    code = (
        "import runpy, sys; sys.modules['rempart'] = None; "
        f"sys.argv = ['verify_report.py', *{list(args)!r}]; "
        f"runpy.run_path({str(ROOT / 'verify_report.py')!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )


def offline(cli: Callable[..., Any], *args: str) -> Any:
    return cli("transparency", "verify", *args, env=NO_DATABASE)


def test_verify_report_py_is_the_generated_copy() -> None:
    assert (ROOT / "verify_report.py").read_text(encoding="utf-8") == standalone_source()


def test_a_report_verifies_from_its_files_alone(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path
) -> None:
    report = publish(seeded, tmp_path, "report")
    verified = offline(seeded, str(report))
    assert verified.exit_code == 0, verified.stderr
    run = standalone(str(report))
    assert run.returncode == 0, run.stderr
    assert "every figure recomputed" in run.stdout

    document = json.loads(report.read_text())
    dataset_text = (tmp_path / "report.dataset.json").read_text()
    dataset = json.loads(dataset_text)
    assert document["dataset"]["entries"] == len(dataset["entries"]) > 0
    assert document["next_report"] > datetime.now(UTC).date().isoformat()
    # Nothing personal, no staff or authority, no internal identifier.
    with runtime.engine.connect() as connection:
        users = connection.execute(sa.text("SELECT user_id FROM accounts")).scalars().all()
        references = connection.execute(sa.select(Order.reference)).scalars().all()
    for secret in [*users, *references, "principal:", "authority:", "order:"]:
        assert secret not in dataset_text
    assert not re.search(r"\+\d{8,}|\b(?:\d{1,3}\.){3}\d{1,3}\b", dataset_text)
    # One pseudonym per order inside the report.
    received = [e["entry"] for e in dataset["entries"] if e["entry"]["action"].endswith("received")]
    assert len({e["target"] for e in received}) == len(received)

    # A second report: its pseudonyms share nothing with the first one's.
    second = publish(seeded, tmp_path / "later", "report")
    assert offline(seeded, str(second), "--previous", str(report)).exit_code == 0
    later = json.loads((tmp_path / "later" / "report.dataset.json").read_text())
    first_names = {e["entry"]["target"] for e in dataset["entries"]}
    assert not first_names & {e["entry"]["target"] for e in later["entries"]}
    assert json.loads(second.read_text())["consistency_proof"]


def _resign(document: dict[str, Any], runtime: Runtime) -> None:
    """What an insider holding the log's key can do: sign whatever they wrote."""
    message = standalone_verify.signed_report_bytes(document)
    document["signature"] = base64.b64encode(runtime.keys.sign(message)).decode()


def _forge(attack: str, report: dict[str, Any], dataset: dict[str, Any], runtime: Runtime) -> None:
    entries = dataset["entries"]
    if attack == "figure":
        report["figures"]["countries"]["FR"]["fulfilled"] = 12
    elif attack == "missing-entry":
        released = next(
            e
            for e in entries
            if e["entry"]["action"] == "legal.disclosure.released"
            and e["entry"]["country"] == "FR"
            and e["entry"]["ts"] >= SEEDED.start.strftime("%Y-%m-%d")
        )
        entries.remove(released)
    elif attack == "forked-log":
        # A previous head signed by the log's key over another history, and a report
        # re-signed around it: only the consistency proof can tell.
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
        _resign(report, runtime)
    elif attack == "pseudonym":
        released = [e for e in entries if e["entry"]["action"] == "legal.disclosure.released"]
        # Two disclosures made to name one user: fewer users affected.
        released[1]["entry"]["details"]["users"] = released[0]["entry"]["details"]["users"]


EXPECTED = {
    "figure": "figures.countries.FR.fulfilled is 12 in the report",
    "missing-entry": "entries are missing",
    "forked-log": "the log forked",
    "pseudonym": "their Merkle root differs",
}


@pytest.mark.parametrize("attack", sorted(EXPECTED))
def test_a_forged_report_or_dataset_fails_naming_the_mismatch(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path, attack: str
) -> None:
    publish(seeded, tmp_path / "before", "report")
    path = publish(seeded, tmp_path, "report")
    report = json.loads(path.read_text())
    dataset = json.loads((tmp_path / "report.dataset.json").read_text())
    _forge(attack, report, dataset, runtime)
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "report.json").write_text(json.dumps(report))
    (forged / "report.dataset.json").write_text(json.dumps(dataset))

    by_cli = offline(seeded, str(forged / "report.json"))
    assert by_cli.exit_code == 1
    assert EXPECTED[attack] in by_cli.stderr
    run = standalone(str(forged / "report.json"))
    assert run.returncode == 1
    assert EXPECTED[attack] in run.stderr
    if attack == "missing-entry":
        assert "figures.countries.FR.fulfilled" in run.stderr  # and the figure it fed


def test_an_insider_rewriting_pseudonyms_and_resigning_is_caught_against_the_log(
    seeded: Callable[..., Any], runtime: Runtime, tmp_path: Path
) -> None:
    path = publish(seeded, tmp_path, "report")
    report = json.loads(path.read_text())
    dataset = json.loads((tmp_path / "report.dataset.json").read_text())
    released = [
        e for e in dataset["entries"] if e["entry"]["action"] == "legal.disclosure.released"
    ]
    released[1]["entry"]["details"]["users"] = released[0]["entry"]["details"]["users"]
    # Fix up everything the public can check: root and signature.
    report["dataset"]["root"] = standalone_verify.dataset_root(dataset["entries"]).hex()
    log = Log()
    for record in dataset["entries"]:
        log.add(record["entry"])
    report["figures"] = compute("lawful_disclosure", log, parse_period(report["period"]))
    _resign(report, runtime)
    path.write_text(json.dumps(report))
    (tmp_path / "report.dataset.json").write_text(json.dumps(dataset))
    assert standalone(str(path)).returncode == 0  # the limit of what the public can see
    against = seeded("transparency", "verify", str(path), "--against-log")
    assert against.exit_code == 1
    assert f"dataset entry {released[1]['seq']} is not the log's entry" in against.stderr


def test_the_dsa_report_verifies_offline_and_exports_the_template_layout(
    seeded: Callable[..., Any], tmp_path: Path
) -> None:
    report = publish(seeded, tmp_path, "dsa", kind="dsa")
    assert offline(seeded, str(report)).exit_code == 0
    run = standalone(str(report))
    assert run.returncode == 0, run.stderr
    figures = json.loads(report.read_text())["figures"]
    assert figures["orders_to_act"]["total"] == 0
    for section in (
        "orders_to_provide_information",
        "notices",
        "automated_means",
        "complaints",
        "out_of_court_disputes",
        "article_23",
        "average_monthly_active_recipients",
    ):
        assert section in figures
    assert "median_hours_to_act" in figures["notices"]
    assert {"accuracy", "error_rate", "confirmed", "reversed"} <= set(figures["automated_means"])
    csv_out = tmp_path / "dsa.csv"
    result = seeded(
        "transparency",
        "report",
        "--period",
        SEEDED.name,
        "--kind",
        "dsa",
        "--format",
        "csv",
        "--out",
        str(csv_out),
    )
    assert result.exit_code == 0, result.stderr
    rows = csv_out.read_text().splitlines()
    assert rows[0] == "period,section,member_state,type,metric,value"
    assert any(r.startswith(f"{SEEDED.name},orders_to_provide_information,FR,") for r in rows)
    assert f"{SEEDED.name},orders_to_act,ALL,,total,0" in rows


def test_no_report_for_a_quarter_under_way(
    seeded: Callable[..., Any], client: TestClient, make_token: Callable[..., str]
) -> None:
    current = quarter_of(datetime.now(UTC))
    admin = bearer(make_token(Role.ADMIN))
    refused = client.post(
        "/v1/transparency/reports",
        json={"kind": "lawful_disclosure", "period": current.name},
        headers=admin,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "period_not_ended"
    year = client.post(
        "/v1/transparency/reports",
        json={"kind": "dsa", "period": str(current.start.year)},
        headers=admin,
    )
    assert year.status_code == 409
    by_cli = seeded("transparency", "report", "--period", current.name)
    assert by_cli.exit_code != 0
    assert "period_not_ended" in by_cli.stderr or "has not ended" in by_cli.stderr
    assert client.get("/v1/transparency/reports").json()["items"] == []

    view = client.get("/v1/transparency/provisional?kind=lawful_disclosure").json()
    assert view["provisional"] is True
    assert view["period"] == current.name
    lookup = client.get(f"/v1/transparency/FR?period={current.start.year}").json()
    assert all(q["provisional"] == (q["period"] >= current.name) for q in lookup["quarters"])

    published = client.post(
        "/v1/transparency/reports",
        json={"kind": "lawful_disclosure", "period": SEEDED.name},
        headers=admin,
    )
    assert published.status_code == 201, published.text
    report_id = published.json()["id"]
    served = client.get(f"/v1/transparency/reports/{report_id}").json()
    dataset = client.get(f"/v1/transparency/reports/{report_id}/dataset").json()
    assert standalone_verify.verify(served, dataset) == []
    assert client.get("/v1/transparency/reports/99999/dataset").status_code == 404


# A suspect, a verified court, two legal reviewers and two admins (tests/factories.py).
world = legal_world


def test_users_affected_counts_distinct_users(
    world: LegalWorld, runtime: Runtime, moved: Any, cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Five orders about one suspect, each naming them twice (by id and by phone): five
    fulfilled orders, ten accounts disclosed, one user affected."""
    client, court = world.client, world.court
    targets = [
        {"kind": "user_id", "value": SUSPECT},
        {"kind": "phone_number", "value": SUSPECT_PHONE},
    ]
    for _ in range(5):
        reference = submit(client, court, sign(court, claims(court, targets=targets))).json()[
            "reference"
        ]
        for reviewer in world.reviewers:
            assert approve(client, reference, reviewer).status_code == 201
        assert release(client, reference, world.reviewers[0]).status_code == 201
    with runtime.engine.connect() as connection:
        bodies = connection.execute(
            sa.text("SELECT body FROM audit_entries WHERE action = 'legal.disclosure.released'")
        ).scalars()
        released = [json.loads(b)["details"] for b in bodies]
    assert sum(d["accounts"] for d in released) == 10
    assert SUSPECT not in json.dumps(released)

    quarter = quarter_of(datetime.now(UTC))
    moved.offset = quarter.end - datetime.now(UTC) + timedelta(days=1)
    out = tmp_path / "report.json"
    result = cli(
        "transparency",
        "report",
        "--period",
        quarter.name,
        "--out",
        str(out),
        "--dataset-out",
        str(tmp_path / "report.dataset.json"),
    )
    assert result.exit_code == 0, result.stderr
    figures = json.loads(out.read_text())["figures"]
    france = figures["countries"]["FR"]
    assert france["fulfilled"] == 5
    assert france["users_affected"] == SUPPRESSED  # one user, not ten
    assert figures["trend"][-1]["fulfilled"] == 5
    assert figures["trend"][-1]["users_affected"] == SUPPRESSED
    assert offline(cli, str(out)).exit_code == 0


def test_a_report_of_format_1_still_verifies(seeded: Callable[..., Any], tmp_path: Path) -> None:
    """Reports published before datasets: no dataset, no signature, fewer keys, and a
    trend that counted partially fulfilled orders as fulfilled."""
    report = json.loads(publish(seeded, tmp_path, "report").read_text())
    old = {
        k: v
        for k, v in report.items()
        if k not in ("dataset", "signature", "consistency_proof", "next_report", "window_start")
    }
    old["version"] = 1
    old["figures"] = copy.deepcopy(report["figures"])
    for row in old["figures"]["trend"]:
        parts = [row.pop("partially_fulfilled"), row["fulfilled"]]
        row.pop("refused")
        if all(isinstance(p, int) for p in parts):
            row["fulfilled"] = sum(parts) if sum(parts) >= 5 or sum(parts) == 0 else SUPPRESSED
    for values in [*old["figures"]["countries"].values(), old["figures"]["total"]]:
        values.pop("emergency_not_confirmed")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    verified = seeded("transparency", "verify", str(path))
    assert verified.exit_code == 0, verified.stderr
    old["figures"]["countries"]["FR"]["orders_received"] = 11
    path.write_text(json.dumps(old))
    assert seeded("transparency", "verify", str(path)).exit_code == 1


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(200):
        if served.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(timeout=10)


def test_a_report_verifies_from_its_url(
    seeded: Callable[..., Any], server: str, tmp_path: Path
) -> None:
    publish(seeded, tmp_path, "report")
    url = f"{server}/v1/transparency/reports/1"
    run = standalone(url)
    assert run.returncode == 0, run.stderr
    assert offline(seeded, url).exit_code == 0
    missing = standalone(f"{server}/v1/transparency/reports/2")
    assert missing.returncode == 2
    # The HTML page embeds the report: verified with the dataset beside it.
    page = tmp_path / "page.html"
    made = seeded(
        "transparency",
        "report",
        "--period",
        SEEDED.name,
        "--format",
        "html",
        "--out",
        str(page),
        "--dataset-out",
        str(tmp_path / "page.dataset.json"),
    )
    assert made.exit_code == 0, made.stderr
    assert "verify_report.py" in page.read_text()
    run = standalone(str(page))
    assert run.returncode == 0, run.stderr

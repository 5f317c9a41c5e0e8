"""The DSA report in the harmonised templates of Implementing Regulation (EU) 2024/2835:
every part with the columns and rows of the Commission's CSV templates (a copy of them is
in tests/data/dsa_2024_2835), figures equal to the JSON report's, and every cell recomputed
from the report's public dataset by the standalone verifier, which names a tampered one."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rempart.transparency import dataset as dataset_module
from rempart.transparency import dsa_templates as templates
from rempart.transparency.figures import Log, compute, quarter, quarter_of

ROOT = Path(__file__).resolve().parents[2]
COMMISSION = Path(__file__).parents[1] / "data" / "dsa_2024_2835"
PERIOD = quarter(2026, 2)
REPORT = {
    "kind": "dsa",
    "version": 4,
    "period": PERIOD.name,
    "generated_at": "2026-07-02T09:00:00+00:00",
    "previous_head": {"timestamp": int(datetime(2026, 4, 3, 8, tzinfo=UTC).timestamp() * 1000)},
}
SMALL = ["--accounts", "60", "--connections", "300", "--entities", "6", "--posts", "80"]
SEEDED = quarter_of(datetime.now(UTC) - timedelta(days=110))
NO_DATABASE = {
    "REMPART_DATABASE_URL": "sqlite:////nonexistent/rempart.db",
    "REMPART_KEY_FILE": "/nonexistent/keys.json",
}


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _commission(name: str) -> list[list[str]]:
    return _read((COMMISSION / name).read_text(encoding="utf-8-sig"))


def _expanded(rows: list[list[str]], column: int) -> list[list[str]]:
    """The Commission's rows with their placeholders ("AT, […], SE", "bg", "[...]", "sv")
    spelt out as the instructions of Annex II say."""
    out: list[list[str]] = []
    for row in rows:
        scope = row[column].strip()
        if scope.startswith("AT"):
            out += [[*row[:column], state, *row[column + 1 :]] for state in templates.MEMBER_STATES]
        elif scope == "bg":
            out += [
                [*row[:column], language, *row[column + 1 :]] for language in templates.LANGUAGES
            ]
        elif scope not in ("[...]", "[…]", "sv", "SE"):
            out.append(row)
    return out


IDENTIFYING = {
    "1_summary.csv": (0, 2),
    "2_categories_names.csv": (0, 1, 2),
    "3_member_states_orders.csv": (0, 3, 5),
    "4_notices.csv": (0, 3),
    "5_own_initiative_illegal.csv": (0, 3),
    "6_own_initiative_TC.csv": (0, 3),
    "7_appeals_and_recidivism.csv": (0, 3, 4, 5),
    "8_automated_means.csv": (0, 3, 4, 5),
    "9_human_resources.csv": (0, 3, 4, 5),
    "10_AMAR.csv": (0, 3, 4, 5),
    "11_qualitative.csv": (0, 3),
}


def test_every_part_has_the_columns_and_rows_of_the_commissions_templates() -> None:
    tables = templates.tables(REPORT, [], provider="Example SAS", service="Example")
    assert (
        list(tables)
        == list(templates.TEMPLATE_FILES)
        == sorted(IDENTIFYING, key=lambda n: int(n.split("_")[0]))
    )
    for name, keys in IDENTIFYING.items():
        theirs, ours = _commission(name), tables[name]
        assert ours[0] == theirs[0], name  # the columns, to the letter
        scope = {"3_member_states_orders.csv": 5}.get(name, 5 if name[0] in "789" else -1)
        rows = _expanded(theirs[1:], scope) if scope >= 0 else theirs[1:]
        if name == "10_AMAR.csv":
            rows = _expanded(theirs[1:], 5)
        if name == "3_member_states_orders.csv":
            # The Commission's rows per Member State leave out one of its rows per total;
            # every Member State has the full list of categories here.
            totals = [r for r in theirs[1:] if r[5] == "TOTAL"]
            rows = [
                [*r[:5], s, *r[6:]] for s in ["TOTAL", *templates.MEMBER_STATES] for r in totals
            ]
        if name == "8_automated_means.csv":
            # The Commission's rows per language cycle accuracy, precision and recall over
            # "bg, [...], sv"; here every indicator has a row per official language.
            indicators = {r[4] for r in theirs[1:] if r[0] == "Only for VLOPs"}
            assert {(r[4], r[5]) for r in ours[1:] if r[0] == "Only for VLOPs"} == {
                (i, lang) for i in indicators for lang in templates.LANGUAGES
            }
            ours = [r for r in ours if r[0] != "Only for VLOPs"]
            rows = [r for r in rows if r[0] != "Only for VLOPs"]
        assert [tuple(r[k].strip() for k in keys) for r in ours[1:]] == [
            tuple(r[k].strip() for k in keys) for r in rows
        ], name
        # The period as the template writes it, and the service named on every row.
        if name not in ("1_summary.csv", "2_categories_names.csv"):
            assert {r[2] for r in ours[1:]} == {"2026-04-01/2026-06-30"}, name
            assert {r[1] for r in ours[1:]} == {"Example"}, name
    # A row "Not captured by any other sub-category" that holds figures says what they are.
    notices = {(r[3], r[4]) for r in tables["4_notices.csv"][1:]}
    assert ("KEYWORD_OTHER", "Doxxing: publication of personal data to harm") in notices
    summary = {r[2]: r[3] for r in tables["1_summary.csv"][1:]}
    assert summary["Date of the publication of the latest previous report"] == "2026-04-03"
    assert summary["Ending date of reporting period"] == "2026-06-30"


def test_rempart_categories_are_the_moderation_policys() -> None:
    policy = json.loads(
        (ROOT / "src/rempart/moderation/data/policy.json").read_text(encoding="utf-8")
    )["categories"]
    codes = {label: code for label, _, code in templates.CATEGORIES}
    assert {
        name: (codes[high], codes[sub]) for name, (high, sub) in templates.POLICY_CATEGORIES.items()
    } == {name: (c["dsa_category"], c["dsa_keyword"]) for name, c in policy.items()}


def _entry(seq: int, when: datetime, kind: str, target: str, **details: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": kind,
        "target": target,
        "country": details.pop("country", None),
        "details": details,
    }


def _scenario() -> list[dict[str, Any]]:
    start = PERIOD.start + timedelta(days=5)
    entries: list[dict[str, Any]] = []

    def add(hours: float, kind: str, target: str, **details: Any) -> None:
        entries.append(
            _entry(len(entries), start + timedelta(hours=hours), kind, target, **details)
        )

    # Six orders to act against terrorist content from France (3 items each), effected
    # 2 hours later; one order to provide information from Greece.
    for i in range(6):
        add(
            0,
            "legal.order.received",
            f"o{i}",
            country="FR",
            order_type="act",
            offence_category="terrorism",
            categories=[],
            emergency=False,
            items=3,
        )
        add(2, "legal.order.acted", f"o{i}", order_type="act")
    add(
        0,
        "legal.order.received",
        "g1",
        country="GR",
        order_type="data",
        offence_category="fraud",
        categories=["subscriber"],
        emergency=False,
    )
    # Six noticed scams, one by a trusted flagger, acted on 1 to 6 hours later: four on the
    # law, two on the terms; a notice of spam names no illegality.
    for i in range(6):
        add(
            0,
            "reports.received",
            f"n{i}",
            by_category={"scams_fraud": 1},
            by_channel={"flagger" if i == 0 else "public": 1},
        )
        add(
            1 + i,
            "moderation.decision",
            f"n{i}",
            action="remove_content",
            category="scams_fraud",
            ground_type="illegal" if i < 4 else "terms",
            automation="fully" if i == 5 else "not",
        )
    add(0, "reports.received", "s1", by_category={"spam": 2}, by_channel={"public": 2})
    # Own initiative: seven automated restrictions of hate speech (terms), five confirmed
    # and two reversed by moderators; six removals of CSAM on the law; an account
    # suspended for spam.
    for i in range(7):
        add(1, "moderation.item.restricted", f"h{i}", category="hate_speech", ground_type="terms")
        add(
            3,
            "moderation.decision",
            f"h{i}",
            action="no_violation" if i < 2 else "remove_content",
            category="hate_speech",
            ground_type="terms",
            automation="partially",
        )
    for i in range(6):
        add(
            4,
            "moderation.decision",
            f"c{i}",
            action="remove_content",
            category="csam_indicators",
            ground_type="illegal",
            automation="not",
        )
    add(
        5,
        "moderation.decision",
        "u1",
        action="suspend_account",
        category="spam",
        ground_type="terms",
        automation="not",
    )
    # Complaints: five owners against removals, one reporter against a refusal.
    for i in range(5):
        add(6, "reports.appeal.filed", f"c{i}", appeal=f"ap{i}", party="owner")
    add(6, "reports.appeal.filed", "h0", appeal="ap9", party="reporter")
    # Disputes: six submitted, five decided for the recipient and all implemented.
    for i in range(6):
        add(7, "reports.dispute.submitted", "", dispute=f"d{i}")
    for i in range(5):
        add(
            9,
            "reports.dispute.decided",
            "",
            dispute=f"d{i}",
            outcome="in_favour_of_recipient",
            implemented=True,
        )
    add(8, "reports.account_suspended", "u1")
    return entries


def _row(table: list[list[str]], **wanted: str) -> dict[str, str]:
    header = table[0]
    for row in table[1:]:
        cells = dict(zip(header, row, strict=True))
        if all(cells[column] == value for column, value in wanted.items()):
            return cells
    raise AssertionError(f"no row {wanted}")


def test_the_figures_are_the_json_reports_and_add_up() -> None:
    entries = _scenario()
    log = Log()
    for entry in entries:
        log.add(entry)
    figures = compute("dsa", log, PERIOD)
    tables = templates.tables(REPORT, entries, provider="Example SAS", service="Example")

    orders = tables["3_member_states_orders.csv"]
    acts = "Number of orders to act against illegal content received"
    effect = "Median time to give effect to the order to act against illegal content"
    total = _row(orders, **{"Category of illegal content": "TOTAL", "Scope": "TOTAL"})
    assert total[acts] == str(figures["orders_to_act"]["total"]) == "6"
    assert total[effect] == str(figures["orders_to_act"]["median_hours_to_effect"]) == "2.0"
    assert total["Number of orders to provide information"] == "<5"
    assert figures["orders_to_provide_information"]["total"] == "<5"
    france = _row(
        orders, **{"Category of illegal content": "KEYWORD_TERRORIST_CONTENT", "Scope": "FR"}
    )
    assert france[acts] == "6"
    assert (
        france[
            "Number of specific items of information included in the total number of orders to "
            "act against illegal content"
        ]
        == "18"
    )
    assert _row(orders, **{"Category of illegal content": "TOTAL", "Scope": "DE"})[acts] == "0"
    # Greece is EL in Eurostat's codes, GR in Rempart's orders.
    greece = _row(
        orders,
        **{"Category of illegal content": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "Scope": "EL"},
    )
    assert greece["Number of orders to provide information"] == "<5"

    notices = tables["4_notices.csv"]
    total = _row(notices, **{"Category of illegal content": "TOTAL"})
    json_notices = figures["notices"]
    assert total["Number of notices received "] == str(json_notices["total"]) == "8"
    assert total["Number of notices received from Trusted flaggers"] == "<5"
    assert json_notices["from_trusted_flaggers"] == "<5"
    assert total["Median time to take action"] == str(json_notices["median_hours_to_act"])
    assert total["Number of actions taken on the basis of the law"] == str(
        json_notices["items_acted_on_by_ground"]["illegal"]
    )
    scams = _row(notices, **{"Category of illegal content": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"})
    assert scams["Number of notices received "] == "6"
    assert (
        _row(notices, **{"Category of illegal content": "KEYWORD_PHISHING"})[
            "Number of notices received "
        ]
        == "6"
    )
    unspecified = _row(
        notices, **{"Category of illegal content": "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"}
    )
    assert unspecified["Number of notices received "] == "<5"
    assert (
        _row(notices, **{"Category of illegal content": "STATEMENT_CATEGORY_VIOLENCE"})[
            "Number of notices received "
        ]
        == "0"
    )

    own = figures["own_initiative"]
    illegal = _row(
        tables["5_own_initiative_illegal.csv"], **{"Category of illegal content": "TOTAL"}
    )
    terms = _row(
        tables["6_own_initiative_TC.csv"],
        **{"Category of incompatibility with the provider's terms and conditions": "TOTAL"},
    )
    measures = "Number of measures taken at the provider's own initiative "
    assert int(illegal[measures]) + int(terms[measures]) == own["total"] == 19
    assert illegal["Visibility restriction Removal"] == "6"
    assert terms["Visibility restriction Demoted"] == "7"
    assert terms["Visibility restriction Removal"] == "5"
    assert terms["Account restriction Suspension"] == "<5"
    detected = "Number of measures taken after detection with solely automated means "
    assert terms[detected] == str(own["by_detection"]["automated"]) == "12"
    # Annex II: a restriction the provider can never impose stays blank, not 0.
    assert terms["Monetary restriction Suspension"] == ""
    assert terms["Contextual Information on Monetary restriction Suspension"].startswith(
        "Not applicable"
    )

    appeals = tables["7_appeals_and_recidivism.csv"]
    complaints = "Number of complaints submitted to the internal-complaints mechanism"
    assert (
        _row(appeals, Indicator=complaints, Scope="Total number")["Value"]
        == str(figures["complaints"]["received"])
        == "6"
    )
    removals = (
        "Complaint regarding a decision to remove or disable access to or restrict visibility "
        "of information"
    )
    assert _row(appeals, Indicator=removals, Scope="Total number")["Value"] == "5"
    disputes = "Number of disputes submitted to out-of-court dispute settlement bodies"
    assert _row(appeals, Indicator=disputes, Scope="Total number")["Value"] == "6"
    assert _row(appeals, Indicator=disputes, Scope="Decisions reversed")["Value"] == "5"
    assert (
        _row(appeals, Indicator=disputes, Scope="Percentage of outcomes implemented")["Value"]
        == "1.0"
    )

    automated = tables["8_automated_means.csv"]
    precision = _row(
        automated, Indicator="Accuracy of the automated means - Precision", Scope="Total number"
    )
    assert precision["Value"] == str(figures["automated_means"]["precision"]) == "0.714"
    solely = _row(
        automated,
        Indicator="Number of measures solely taken by automated means ",
        Scope="Total number",
    )
    assert solely["Value"] == "8"  # seven automated restrictions and one fully automated decision


def _published(entries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return REPORT, {"entries": [{"seq": e["seq"], "entry": e} for e in entries]}


def test_a_tampered_cell_a_missing_file_or_row_is_named() -> None:
    report, public = _published(_scenario())
    files = templates.render(report, public, provider="Example SAS", service="Example")
    assert all(text.endswith("\r\n") for text in files.values())  # RFC 4180
    assert templates.check_templates(report, public, files) == []

    rows = _read(files["4_notices.csv"])
    rows[1][5] = "80"
    tampered = {**files, "4_notices.csv": templates.to_csv(rows)}
    problems = templates.check_templates(report, public, tampered)
    assert problems == [
        "4_notices.csv row 2 (TOTAL), column 'Number of notices received ': '80' in the file "
        "but '8' in the log"
    ]
    missing = {k: v for k, v in files.items() if k != "7_appeals_and_recidivism.csv"}
    assert templates.check_templates(report, public, missing) == [
        "the templates lack 7_appeals_and_recidivism.csv"
    ]
    short = {**files, "10_AMAR.csv": templates.to_csv(_read(files["10_AMAR.csv"])[:-1])}
    assert "10_AMAR.csv has 27 rows" in templates.check_templates(report, public, short)[0]
    # The provider's and service's names are declarations, read from the files.
    renamed = templates.render(report, public, provider="Other SA", service="Other")
    assert templates.check_templates(report, public, renamed) == []


def test_an_acted_order_and_the_categories_reach_the_public_dataset() -> None:
    """The dataset keeps what the figures read: an acted order (once a KeyError that made
    the report fail), each decision's category and each complaint's party."""
    key = b"k" * 32
    acted = dataset_module.reduce(
        _entry(1, PERIOD.start, "legal.order.acted", "order:1", order_type="act", actions={}),
        key,
    )
    assert acted["details"] == {"order_type": "act"}
    decision = dataset_module.reduce(
        _entry(
            2,
            PERIOD.start,
            "moderation.decision",
            "post:1",
            action="remove_content",
            category="spam",
            ground_type="terms",
            automation="not",
            statement="puid-1",
        ),
        key,
    )
    assert decision["details"]["category"] == "spam"
    assert "statement" not in decision["details"]
    filed = dataset_module.reduce(
        _entry(3, PERIOD.start, "reports.appeal.filed", "post:1", appeal="AP-1", party="owner"),
        key,
    )
    assert filed["details"]["party"] == "owner"
    assert filed["details"]["appeal"] != "AP-1"


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture
def seeded(cli: Callable[..., Any]) -> Callable[..., Any]:
    assert cli("demo", "seed", *SMALL).exit_code == 0
    return cli


def _standalone(*args: str) -> subprocess.CompletedProcess[str]:
    """verify_report.py, run where any import of Rempart fails."""
    code = (
        "import runpy, sys; sys.modules['rempart'] = None; "
        f"sys.argv = ['verify_report.py', *{list(args)!r}]; "
        f"runpy.run_path({str(ROOT / 'verify_report.py')!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )


def test_the_published_templates_verify_from_files_alone(
    seeded: Callable[..., Any], client: TestClient, tmp_path: Path
) -> None:
    report = tmp_path / "dsa.json"
    published = seeded(
        "transparency",
        "report",
        "--kind",
        "dsa",
        "--period",
        SEEDED.name,
        "--out",
        str(report),
        "--dataset-out",
        str(tmp_path / "dsa.dataset.json"),
    )
    assert published.exit_code == 0, published.stderr
    folder = tmp_path / "templates"
    written = seeded(
        "transparency", "dsa", "--period", SEEDED.name, "--format", "csv", "--out", str(folder)
    )
    assert written.exit_code == 0, written.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(templates.TEMPLATE_FILES)
    run = _standalone(str(report), "--templates", str(folder))
    assert run.returncode == 0, run.stderr
    assert "every cell of the 11 template files" in run.stdout
    offline = seeded(
        "transparency", "verify", str(report), "--templates", str(folder), env=NO_DATABASE
    )
    assert offline.exit_code == 0, offline.stderr

    # The API serves the same files, zipped, for the report and for its period.
    zipped = tmp_path / "dsa.zip"
    assert (
        seeded(
            "transparency", "dsa", "--period", SEEDED.name, "--format", "zip", "--out", str(zipped)
        ).exit_code
        == 0
    )
    report_id = client.get(
        "/v1/transparency/reports", params={"kind": "dsa", "period": SEEDED.name}
    ).json()["items"][0]["id"]
    served = client.get(f"/v1/transparency/reports/{report_id}/templates.zip")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/zip"
    assert served.content == zipped.read_bytes()
    by_period = client.get(f"/v1/transparency/dsa/{SEEDED.name}/templates.zip")
    assert by_period.content == zipped.read_bytes()
    with zipfile.ZipFile(io.BytesIO(served.content)) as archive:
        notices = archive.read("4_notices.csv").decode()
    one = client.get(f"/v1/transparency/reports/{report_id}/templates/4_notices.csv")
    assert one.status_code == 200
    assert one.text == notices
    assert _standalone(str(report), "--templates", str(zipped)).returncode == 0
    figures = json.loads(report.read_text())["figures"]
    total = _row(_read(notices), **{"Category of illegal content": "TOTAL"})
    assert total["Number of notices received "] == str(figures["notices"]["total"])

    page = client.get("/transparency")
    assert f'href="/v1/transparency/reports/{report_id}/templates.zip"' in page.text
    as_json = tmp_path / "again.json"
    again = seeded(
        "transparency", "dsa", "--report-id", str(report_id), "--format", "json",
        "--out", str(as_json),
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert json.loads(as_json.read_text()) == json.loads(report.read_text())
    assert seeded("transparency", "dsa", "--out", str(tmp_path / "x")).exit_code == 2

    # Errors are named: no such file, a report that is not the DSA's, no report yet.
    missing = client.get(f"/v1/transparency/reports/{report_id}/templates/12_none.csv")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "template_not_found")
    lawful = tmp_path / "lawful.json"
    assert (
        seeded("transparency", "report", "--period", SEEDED.name, "--out", str(lawful)).exit_code
        == 0
    )
    lawful_id = client.get("/v1/transparency/reports", params={"kind": "lawful_disclosure"}).json()[
        "items"
    ][0]["id"]
    refused = client.get(f"/v1/transparency/reports/{lawful_id}/templates.zip")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "no_dsa_templates")
    none = client.get("/v1/transparency/dsa/2001-Q1/templates.zip")
    assert (none.status_code, none.json()["error"]["code"]) == (404, "report_not_found")

    # A forger who edits one cell is named, by the standalone verifier and by the CLI.
    path = folder / "4_notices.csv"
    rows = _read(path.read_text(encoding="utf-8"))
    rows[1][5] = str(int(rows[1][5]) + 1) if rows[1][5].isdigit() else "999"
    path.write_text(templates.to_csv(rows), encoding="utf-8")
    run = _standalone(str(report), "--templates", str(folder))
    assert run.returncode == 1
    assert "4_notices.csv row 2 (TOTAL), column 'Number of notices received '" in run.stderr
    offline = seeded(
        "transparency", "verify", str(report), "--templates", str(folder), env=NO_DATABASE
    )
    assert offline.exit_code == 1
    assert "4_notices.csv row 2" in offline.stderr


def test_the_public_dataset_gives_the_figures_and_cells_of_the_log() -> None:
    """What anyone recomputes from the pseudonymised dataset equals what the platform
    computed from its log: figures (the JSON report) and template cells alike."""
    entries = _scenario()
    key = b"k" * 32
    public = [dataset_module.reduce(entry, key) for entry in entries]
    full, reduced = Log(), Log()
    for entry in entries:
        full.add(entry)
    for entry in public:
        reduced.add(entry)
    assert compute("dsa", reduced, PERIOD) == compute("dsa", full, PERIOD)
    options = {"provider": "Example SAS", "service": "Example"}
    assert templates.tables(REPORT, public, **options) == templates.tables(
        REPORT, entries, **options
    )

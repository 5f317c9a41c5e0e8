"""`rempart transparency …` and `rempart dsa …`."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rempart.core.cli import DatabaseUrl, cli_runtime, console, err, fail
from rempart.core.errors import RempartError
from rempart.platform import recipients
from rempart.reports import disputes
from rempart.transparency import dsa, render, service
from rempart.transparency import standalone_verify as offline
from rempart.transparency.dsa_rules import validate
from rempart.transparency.dsa_templates import check_templates
from rempart.transparency.verify import verify

transparency_app = typer.Typer(
    help="Transparency reports computed from the audit log.", no_args_is_help=True
)
dsa_app = typer.Typer(help="The DSA Transparency Database.", no_args_is_help=True)


class Kind(StrEnum):
    LAWFUL_DISCLOSURE = "lawful_disclosure"
    DSA = "dsa"


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False)


@transparency_app.command("report")
def report(
    period: Annotated[
        str | None, typer.Option(help="A quarter (2026-Q3) or a year (2026) that has ended.")
    ] = None,
    kind: Annotated[Kind, typer.Option(help="Which report.")] = Kind.LAWFUL_DISCLOSURE,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.JSON,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    dataset_out: Annotated[
        Path | None, typer.Option(help="Also write the report's public dataset here.")
    ] = None,
    provisional: Annotated[
        bool,
        typer.Option(help="Print a provisional view of the quarter under way; publish nothing."),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Compute a report over the log as it is now, publish it, and print or write it.

    It embeds the signed tree head it was computed from, the previous report's head and
    the consistency proof between them, and is signed with the root of its dataset. Only
    a period that has ended can be reported."""
    rt = cli_runtime(database_url)
    try:
        if provisional:
            typer.echo(_dump(service.provisional(rt, kind=kind.value, sign_head=True)))
            return
        if period is None:
            raise typer.BadParameter("Give --period (or --provisional).")
        document = service.publish(rt, kind=kind.value, period_text=period)
    except RempartError as exc:
        raise fail(exc) from None
    report_id = document.pop("id")
    text = {
        Format.JSON: lambda: _dump(document),
        Format.CSV: lambda: render.to_csv(document),
        Format.HTML: lambda: render.to_html(document),
    }[output]()
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
        err.print(
            f"Wrote {out} (report {report_id}, head of size {document['head']['tree_size']})."
        )
    if dataset_out is not None:
        with rt.unit_of_work(readonly=True) as session:
            public = service.published_dataset(session, report_id=report_id)
        dataset_out.write_text(_dump(public) + "\n", encoding="utf-8")


class TemplateFormat(StrEnum):
    CSV = "csv"
    ZIP = "zip"
    JSON = "json"


@transparency_app.command("dsa")
def dsa_report(
    out: Annotated[
        Path, typer.Option(help="A folder for the CSV files, the zip or the JSON file.")
    ],
    period: Annotated[
        str | None, typer.Option(help="The period of the last DSA report published for it.")
    ] = None,
    report_id: Annotated[int | None, typer.Option(help="Or the published report's id.")] = None,
    output: Annotated[
        TemplateFormat, typer.Option("--format", help="The templates' CSV files, zipped, or JSON.")
    ] = TemplateFormat.CSV,
    database_url: DatabaseUrl = None,
) -> None:
    """Write a published DSA report in the templates of Implementing Regulation (EU)
    2024/2835 (one CSV file per part, as Annex I lays them out), or as JSON. Check them with
    `python verify_report.py REPORT.json --templates FOLDER_OR_ZIP`."""
    if (period is None) == (report_id is None):
        raise typer.BadParameter("Give --period or --report-id.")
    rt = cli_runtime(database_url)
    try:
        if output is TemplateFormat.JSON:
            with rt.unit_of_work(readonly=True) as session:
                chosen = report_id or service.latest_report_id(
                    session, kind="dsa", period_text=period or ""
                )
                document = service.published_document(session, report_id=chosen)
            out.write_text(_dump(document) + "\n", encoding="utf-8")
            err.print(f"Wrote {out}.")
            return
        files = service.dsa_template_files(rt, report_id=report_id, period_text=period)
    except RempartError as exc:
        raise fail(exc) from None
    if output is TemplateFormat.ZIP:
        out.write_bytes(service.zipped(files))
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            # newline="": the files keep the CRLF line ends RFC 4180 asks for.
            with (out / name).open("w", encoding="utf-8", newline="") as handle:
                handle.write(text)
    err.print(f"Wrote the {len(files)} template files to {out}.")


@transparency_app.command("export")
def export_report(
    report_id: Annotated[int, typer.Argument(help="The published report's id.")],
    out_dir: Annotated[Path, typer.Option(help="Folder for report-ID.json and its dataset.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Write a published report and its public dataset, as anyone can download them."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work(readonly=True) as session:
            document = service.published_document(session, report_id=report_id)
            public = service.published_dataset(session, report_id=report_id)
    except RempartError as exc:
        raise fail(exc) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"report-{report_id}.json").write_text(_dump(document) + "\n", encoding="utf-8")
    (out_dir / f"report-{report_id}.dataset.json").write_text(
        _dump(public) + "\n", encoding="utf-8"
    )
    console.print(
        f"Wrote report-{report_id}.json and report-{report_id}.dataset.json to {out_dir}."
    )


def _problems(problems: list[str], what: str) -> None:
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {what}")


@transparency_app.command("verify")
def verify_command(
    source: Annotated[
        str, typer.Argument(help="A published report: a file (JSON or HTML) or its URL.")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Its dataset, a file or URL (default: beside the report).")
    ] = None,
    previous: Annotated[
        str | None, typer.Option(help="The previous published report of the same kind.")
    ] = None,
    templates: Annotated[
        str | None,
        typer.Option(help="A DSA report's template files (folder, zip or URL): check each cell."),
    ] = None,
    against_log: Annotated[
        bool,
        typer.Option(
            help="Also recompute it from this installation's audit log (needs the database)."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Check a report's signatures, proofs and every figure from its public files, with no
    database; exit 1 naming each mismatch. A report without a dataset (format 1), or
    --against-log, is checked against the audit log instead."""
    try:
        document = offline.load(source)
        before = offline.load(previous) if previous else None
    except (OSError, ValueError) as exc:
        err.print(f"[red]Cannot read the report:[/red] {exc}")
        raise typer.Exit(2) from None
    public = None
    if document.get("version", 1) >= 2:
        try:
            public = offline.load(dataset or offline.dataset_source(source))
        except (OSError, ValueError) as exc:
            if dataset is not None:
                err.print(f"[red]Cannot read the report's dataset:[/red] {exc}")
                raise typer.Exit(2) from None
    cells: list[str] = []
    if templates is not None:
        try:
            files = offline.load_templates(templates)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            err.print(f"[red]Cannot read the templates:[/red] {exc}")
            raise typer.Exit(2) from None
        if public is None:
            err.print("[red]The templates are checked against the report's dataset.[/red]")
            raise typer.Exit(2)
        cells = check_templates(document, public, files)
    if public is not None and not against_log:
        _problems(
            offline.verify(document, public, before) + cells,
            f"{document['kind']} {document['period']}: signed, consistent with the previous "
            f"report, every figure recomputed from {len(public['entries'])} entries proven "
            "in the log.",
        )
        return
    rt = cli_runtime(database_url)
    with rt.unit_of_work(readonly=True) as session:
        verdict = verify(session, report=document, keys=rt.keys, previous=before, dataset=public)
    problems = verdict.problems
    if public is not None:
        problems = offline.verify(document, public, before) + problems + cells
    _problems(
        problems,
        f"{document['kind']} {document['period']}: every figure matches the audit log under "
        f"its signed head ({verdict.entries} entries).",
    )


@dsa_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Folder for the JSON batches.")],
    everything: Annotated[bool, typer.Option(help="Also statements already submitted.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Write statements of reasons as batches of up to 100, ready for the database's API."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work(readonly=True) as session:
            files = dsa.export(session, out=out, only_unsubmitted=not everything)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"Wrote {len(files)} batch file(s) to {out}.")


@dsa_app.command("submit")
def submit(
    endpoint: Annotated[
        str | None, typer.Option(help="API base URL, e.g. …/api/v1 (REMPART_DSA_ENDPOINT).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send the statements not yet accepted, through REMPART_DSA_CLIENT (http: the
    database's API with REMPART_DSA_TOKEN; directory: files in REMPART_DSA_DIRECTORY)."""
    rt = cli_runtime(database_url)
    if endpoint:
        rt = replace(rt, settings=rt.settings.model_copy(update={"dsa_endpoint": endpoint}))
    try:
        client = rt.port(dsa.PORT)
    except dsa.DsaNotConfigured as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    try:
        counts = dsa.submit(rt.engine, client=client, now=rt.now())
    except RempartError as exc:
        raise fail(exc) from None
    finally:
        client.close()
    console.print(
        f"{counts['accepted']} accepted, {counts['already_known']} already known, "
        f"{counts['refused']} refused."
    )
    if counts["refused"]:
        raise typer.Exit(1)


@dsa_app.command("validate")
def validate_file(
    file: Annotated[Path, typer.Argument(help='A statement, or a batch {"statements": […]}.')],
) -> None:
    """Check statements against the database's validation rules."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[red]Cannot read {file}:[/red] {exc}")
        raise typer.Exit(2) from None
    batch = document.get("statements") if isinstance(document, dict) else None
    statements = batch if isinstance(batch, list) else [document]
    bad = 0
    for index, statement in enumerate(statements):
        for problem in validate(statement):
            err.print(f"[red]statement_{index}[/red]: {problem}")
            bad += 1
    if bad:
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {len(statements)} statement(s) pass.")


@dsa_app.command("dispute-submit")
def dispute_submit(
    settlement_body: Annotated[
        str, typer.Option("--body", help="The certified out-of-court settlement body.")
    ],
    decision: Annotated[int | None, typer.Option(help="The moderation decision disputed.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Record a dispute taken to an out-of-court settlement body (DSA Art. 21)."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            dispute = disputes.submit(
                session, settlement_body=settlement_body, decision_id=decision, actor="cli"
            )
            tracking_id = dispute.tracking_id
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(tracking_id)


@dsa_app.command("dispute-decide")
def dispute_decide(
    tracking_id: Annotated[str, typer.Argument(help="The dispute's tracking id.")],
    outcome: Annotated[disputes.DisputeOutcome, typer.Option(help="What the body decided.")],
    implemented: Annotated[
        bool, typer.Option(help="Whether the platform implemented the body's decision.")
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """Record an out-of-court settlement body's decision."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            disputes.decide(
                session,
                tracking_id=tracking_id,
                outcome=outcome,
                implemented=implemented,
                actor="cli",
            )
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"Recorded the decision on {tracking_id}.")


@dsa_app.command("recipients")
def active_recipients(
    month: Annotated[str, typer.Option(help="The month counted, e.g. 2026-07.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Count the month's active recipients in the Union and record it (DSA Art. 24(2))."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            details = recipients.record(session, month=month, actor="cli")
    except RempartError as exc:
        raise fail(exc) from None
    typer.echo(json.dumps(details, sort_keys=True))

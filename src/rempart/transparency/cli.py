"""`rempart transparency …` and `rempart dsa …`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rempart.core.cli import DatabaseUrl, cli_runtime, console, err, fail
from rempart.core.clock import utcnow
from rempart.core.errors import RempartError
from rempart.transparency import dsa, render, service
from rempart.transparency.dsa_rules import validate
from rempart.transparency.verify import load_report, verify

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


@transparency_app.command("report")
def report(
    period: Annotated[str, typer.Option(help="A quarter (2026-Q3) or a year (2026).")],
    kind: Annotated[Kind, typer.Option(help="Which report.")] = Kind.LAWFUL_DISCLOSURE,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.JSON,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Compute a report over the log as it is now, publish it, and print or write it.

    It embeds the signed tree head it was computed from and the previous report's head."""
    rt = cli_runtime(database_url)
    try:
        document = service.publish(rt, kind=kind.value, period_text=period)
    except RempartError as exc:
        raise fail(exc) from None
    text = {
        Format.JSON: lambda: json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False),
        Format.CSV: lambda: render.to_csv(document),
        Format.HTML: lambda: render.to_html(document),
    }[output]()
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
        err.print(f"Wrote {out} (head of size {document['head']['tree_size']}).")


@transparency_app.command("verify")
def verify_command(
    report_file: Annotated[Path, typer.Argument(help="A published report, JSON or HTML.")],
    previous: Annotated[
        Path | None, typer.Option(help="The previous published report of the same kind.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Recompute the report from the audit log; exit 1 and say why on any mismatch."""
    rt = cli_runtime(database_url)
    try:
        document = load_report(report_file)
        before = load_report(previous) if previous else None
    except (OSError, ValueError) as exc:
        err.print(f"[red]Cannot read the report:[/red] {exc}")
        raise typer.Exit(2) from None
    with rt.unit_of_work(readonly=True) as session:
        verdict = verify(session, document, keys=rt.keys, previous=before)
    if not verdict.ok:
        for problem in verdict.problems:
            err.print(f"[red]✗[/red] {problem}")
        raise typer.Exit(1)
    console.print(
        f"[green]✓[/green] {document['kind']} {document['period']}: every figure matches the "
        f"audit log under its signed head ({verdict.entries} entries)."
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
    """Send the statements not yet accepted; the token is REMPART_DSA_TOKEN."""
    rt = cli_runtime(database_url)
    url = endpoint or rt.settings.dsa_endpoint
    if not url or not rt.settings.dsa_token:
        err.print("[red]Set REMPART_DSA_ENDPOINT (or --endpoint) and REMPART_DSA_TOKEN.[/red]")
        raise typer.Exit(2)
    try:
        counts = dsa.submit(rt.engine, endpoint=url, token=rt.settings.dsa_token, now=utcnow())
    except RempartError as exc:
        raise fail(exc) from None
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

"""`rempart banks …` and `rempart moderation …`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rempart.core.cli import CLI_ACTOR, DatabaseUrl, cli_runtime, cli_settings, console, fail
from rempart.core.errors import RempartError
from rempart.moderation import banks, rescan, signal_types

banks_app = typer.Typer(help="Hash banks of known violating media.", no_args_is_help=True)
moderation_app = typer.Typer(help="Moderation: rescans.", no_args_is_help=True)


@banks_app.command("import")
def banks_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: hash[,algorithm,bank,category,source,quality]")
    ],
    bank: Annotated[str | None, typer.Option(help="Bank name for rows without one.")] = None,
    category: Annotated[
        str | None, typer.Option(help="Policy category for rows without one.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Where the hashes come from.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import hashes (SHA-256, MD5, PDQ); PDQ hashes of quality below 50 are skipped."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            defaults = {"bank": bank, "category": category, "source": source}
            rows = rt.port(signal_types.SOURCES).open(str(file), defaults)
            result = banks.import_source(session, source=rows, actor=CLI_ACTOR)
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]Cannot read {file}:[/red] {exc}")
        raise typer.Exit(1) from None
    except RempartError as exc:
        raise fail(exc) from None
    console.print(
        f"Read {result.read} hashes: {result.added} new, "
        f"{result.skipped_low_quality} skipped (PDQ quality below 50)."
    )
    if result.added:
        console.print("Posts with media will be scanned again by the worker.")


@moderation_app.command("rescan")
def moderation_rescan(
    media_only: Annotated[bool, typer.Option(help="Only posts that carry media.")] = False,
    wait: Annotated[bool, typer.Option(help="Show the worker's progress until done.")] = False,
    reuse_scores: Annotated[
        bool,
        typer.Option(
            help="Keep the classifier's stored answer for items whose text and models are "
            "unchanged (after a policy or rule change); by default every item is classified."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-evaluate the corpus in batches. The worker runs the batches; a killed worker
    resumes where it stopped."""
    rt = cli_runtime(database_url)
    with rt.unit_of_work() as session:
        planned = rescan.plan(
            session,
            media_only=media_only,
            reason="requested",
            actor=CLI_ACTOR,
            reuse_scores=reuse_scores,
        )
    console.print(f"Queued {planned.jobs} batches covering {planned.items} items.")
    if not wait or not planned.jobs:
        return
    columns = (TextColumn("Rescan"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("rescan", total=planned.jobs)
        while True:
            with rt.unit_of_work(readonly=True) as session:
                done, total = rescan.progress(session, rescan=planned)
            progress.update(task, completed=done)
            if done >= total:
                break
            time.sleep(1.0)


def classify(
    first_stage_only: Annotated[
        bool, typer.Option(help="Only the fast first stage, not the semantic or remote ones.")
    ] = False,
) -> None:
    """Score texts: JSON lines on stdin ({"text": …} or a JSON string), scores on stdout.

    The stages are those the worker uses (REMPART_CLASSIFIER_SEMANTIC,
    REMPART_CLASSIFIER_REMOTE_URL); each line says which stage answered."""
    import json
    import sys

    from rempart.moderation import ngram
    from rempart.moderation.signals import TextClassifier
    from rempart.moderation.tasks import default_classifier

    model: TextClassifier = (
        ngram.load_default() if first_stage_only else default_classifier(cli_settings(None))
    )
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"] if isinstance(item, dict) else item
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            console.print(f'[red]Line {number}: expected a JSON string or {{"text": …}}.[/red]')
            raise typer.Exit(1) from None
        [result] = model.classify([text])
        top = max(result.scores, key=result.scores.__getitem__)
        typer.echo(
            json.dumps(
                {
                    "top": top,
                    "scores": result.scores,
                    "stage": result.stage,
                    "model_version": result.model_version,
                }
            )
        )

"""Statements of reasons for the DSA Transparency Database: written as JSON batches of up
to 100 (``rempart dsa export``) and submitted by a client (``rempart dsa submit``) that
never sends a puid twice, records what the database refuses (422) and retries what fails
on the way (network errors, 5xx) with backoff."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from rempart.core.db import transaction
from rempart.core.errors import Invalid, RempartError
from rempart.moderation.models import StatementOfReasons
from rempart.transparency.dsa_rules import validate

BATCH = 100
ATTEMPTS = 4


class StatementInvalid(Invalid):
    code = "statement_invalid"


class SubmissionFailed(RempartError):
    status_code = 502
    code = "dsa_submission_failed"


def public_payload(statement: StatementOfReasons) -> dict[str, Any]:
    """The statement as the database receives it: no personal data, and no identity of a
    private notifier (``source_identity`` is never sent)."""
    payload = {k: v for k, v in statement.payload.items() if k != "source_identity"}
    problems = validate(payload)
    if problems:
        raise StatementInvalid(
            f"Statement {statement.puid} breaks the database's rules: " + "; ".join(problems)
        )
    return payload


def export(session: Session, *, out: Path, only_unsubmitted: bool = True) -> list[Path]:
    query = select(StatementOfReasons).order_by(StatementOfReasons.id)
    if only_unsubmitted:
        query = query.where(StatementOfReasons.dsa_submitted_at.is_(None))
    statements = [public_payload(s) for s in session.execute(query).scalars()]
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for number, start in enumerate(range(0, len(statements), BATCH), start=1):
        path = out / f"statements-{number:04d}.json"
        batch = {"statements": statements[start : start + BATCH]}
        path.write_text(json.dumps(batch, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        files.append(path)
    return files


def _post(
    client: httpx.Client, url: str, batch: list[dict[str, Any]], sleep: Callable[[float], None]
) -> httpx.Response:
    for attempt in range(ATTEMPTS):
        try:
            response = client.post(url, json={"statements": batch})
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code < 500:
            return response
        if attempt < ATTEMPTS - 1:
            sleep(2**attempt)
    raise SubmissionFailed("The Transparency Database did not answer; try again later.")


def _known(client: httpx.Client, base: str, puid: str) -> bool:
    response = client.get(f"{base}/statement/existing-puid/{puid}", follow_redirects=False)
    return response.status_code == 302


def submit(
    engine: Engine,
    *,
    endpoint: str,
    token: str,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Send every statement not yet accepted. Returns how many were accepted, already
    known, and refused.

    No transaction is open while the database is asked over the network (30 s timeouts,
    retries with backoff): each batch is read, sent, then its outcome written in a short
    transaction of its own, so a cut-off run keeps the batches it finished."""
    base = endpoint.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    counts = {"accepted": 0, "already_known": 0, "refused": 0}
    after = 0
    with httpx.Client(headers=headers, timeout=30) as client:
        while True:
            with transaction(engine, readonly=True) as session:
                pending = list(
                    session.execute(
                        select(StatementOfReasons)
                        .where(
                            StatementOfReasons.dsa_submitted_at.is_(None),
                            StatementOfReasons.id > after,
                        )
                        .order_by(StatementOfReasons.id)
                        .limit(BATCH)
                    ).scalars()
                )
            if not pending:
                return counts
            after = pending[-1].id
            outcome = _send_batch(client, base, pending, counts, sleep)
            with transaction(engine) as session:
                for statement_id, error in outcome.items():
                    session.execute(
                        update(StatementOfReasons)
                        .where(
                            StatementOfReasons.id == statement_id,
                            StatementOfReasons.dsa_submitted_at.is_(None),
                        )
                        .values(dsa_submitted_at=now if error is None else None, dsa_error=error)
                    )


def _send_batch(
    client: httpx.Client,
    base: str,
    pending: list[StatementOfReasons],
    counts: dict[str, int],
    sleep: Callable[[float], None],
) -> dict[int, str | None]:
    """Each statement's outcome: None once the database holds it, else its refusal."""
    outcome: dict[int, str | None] = {}
    todo = []
    for statement in pending:
        # An earlier run may have been cut off after the database took the batch.
        if _known(client, base, statement.puid):
            outcome[statement.id] = None
            counts["already_known"] += 1
        else:
            todo.append(statement)
    while todo:
        payloads = [public_payload(s) for s in todo]
        response = _post(client, f"{base}/statements", payloads, sleep)
        if response.status_code == 201:
            outcome.update((statement.id, None) for statement in todo)
            counts["accepted"] += len(todo)
            break
        if response.status_code != 422:
            raise SubmissionFailed(f"The Transparency Database answered {response.status_code}.")
        # All or nothing: take out the statements it names, send the rest again.
        errors = _errors(response)
        named = {i for i in range(len(todo)) if f"statement_{i}" in errors} or set(range(len(todo)))
        for index in sorted(named):
            statement = todo[index]
            problem = errors.get(f"statement_{index}", errors)
            if "puid" in json.dumps(problem).lower() and _known(client, base, statement.puid):
                outcome[statement.id] = None
                counts["already_known"] += 1
            else:
                outcome[statement.id] = json.dumps(problem)[:2000]
                counts["refused"] += 1
        todo = [s for i, s in enumerate(todo) if i not in named]
    return outcome


def _errors(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": response.text[:500]}
    errors = body.get("errors", body) if isinstance(body, dict) else {"error": body}
    return errors if isinstance(errors, dict) else {"error": errors}

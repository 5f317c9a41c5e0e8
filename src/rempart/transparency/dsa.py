"""Statements of reasons for the DSA Transparency Database: written as JSON batches of up
to 100 (``rempart dsa export``) and submitted through a ``DsaClient`` (``rempart dsa submit``)
that never sends a puid twice, records what the database refuses (422) and retries what fails
on the way (network errors, 5xx) with backoff."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from rempart.core import ports
from rempart.core.db import transaction
from rempart.core.errors import Conflict, Invalid, RempartError
from rempart.core.ports import Port
from rempart.core.settings import Settings
from rempart.moderation.models import StatementOfReasons
from rempart.transparency.dsa_rules import validate

if TYPE_CHECKING:
    import httpx

BATCH = 100
ATTEMPTS = 4


class StatementInvalid(Invalid):
    code = "statement_invalid"


class DsaNotConfigured(Conflict):
    code = "dsa_not_configured"


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


@dataclass(frozen=True)
class BatchAnswer:
    """The database took the whole batch, or refused it, naming the statements at fault
    (``statement_<index>``: its problems) when it says which."""

    accepted: bool
    errors: dict[str, Any]


class DsaClient(Protocol):
    """The DSA Transparency Database as ``submit`` uses it: chosen in settings
    (``REMPART_DSA_CLIENT``)."""

    def known(self, puid: str) -> bool:
        """Whether the database already holds a statement with this puid."""
        ...

    def send(self, statements: list[dict[str, Any]]) -> BatchAnswer:
        """Submit a batch, all or nothing; raise ``SubmissionFailed`` when unreachable."""
        ...

    def close(self) -> None: ...


class HttpDsaClient:
    """The database's API (``REMPART_DSA_ENDPOINT``, ``REMPART_DSA_TOKEN``), retrying what
    fails on the way (network errors, 5xx) with backoff."""

    def __init__(
        self, endpoint: str, token: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.base = endpoint.rstrip("/")
        self.sleep = sleep
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        # Imported here: the app and the worker register this port at start (so that a bad
        # REMPART_DSA_CLIENT stops them) without loading an HTTP client they never use.
        import httpx

        self.client = httpx.Client(headers=headers, timeout=30)

    def known(self, puid: str) -> bool:
        url = f"{self.base}/statement/existing-puid/{puid}"
        return self.client.get(url, follow_redirects=False).status_code == 302

    def send(self, statements: list[dict[str, Any]]) -> BatchAnswer:
        response = self._post(statements)
        if response.status_code == 201:
            return BatchAnswer(accepted=True, errors={})
        if response.status_code != 422:
            raise SubmissionFailed(f"The Transparency Database answered {response.status_code}.")
        return BatchAnswer(accepted=False, errors=_errors(response))

    def close(self) -> None:
        self.client.close()

    def _post(self, batch: list[dict[str, Any]]) -> httpx.Response:
        import httpx

        for attempt in range(ATTEMPTS):
            try:
                response = self.client.post(f"{self.base}/statements", json={"statements": batch})
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                return response
            if attempt < ATTEMPTS - 1:
                self.sleep(2**attempt)
        raise SubmissionFailed("The Transparency Database did not answer; try again later.")


class DirectoryDsaClient:
    """The local default for a platform that uploads by other means (or not yet): each
    batch is written whole as a JSON file in ``REMPART_DSA_DIRECTORY``, in the API's
    form, and counts as submitted. A puid already in a file there is known."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._known: set[str] | None = None

    def known(self, puid: str) -> bool:
        if self._known is None:
            self._known = set()
            for path in sorted(self.directory.glob("statements-*.json")):
                batch = json.loads(path.read_text(encoding="utf-8"))["statements"]
                self._known.update(str(s["puid"]) for s in batch)
        return puid in self._known

    def send(self, statements: list[dict[str, Any]]) -> BatchAnswer:
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"statements": statements}, indent=1, ensure_ascii=False) + "\n"
        partial = self.directory / f".batch-{os.getpid()}.part"
        partial.write_text(text, encoding="utf-8")
        # Written whole, then linked under the next free number: a second run at the same
        # time takes another number rather than replace this batch.
        number = len(list(self.directory.glob("statements-*.json"))) + 1
        while True:
            try:
                os.link(partial, self.directory / f"statements-{number:06d}.json")
                break
            except FileExistsError:
                number += 1
        partial.unlink()
        if self._known is not None:
            self._known.update(str(s["puid"]) for s in statements)
        return BatchAnswer(accepted=True, errors={})

    def close(self) -> None:
        pass


def build_client(settings: Settings, *, endpoint: str | None = None) -> DsaClient:
    if settings.dsa_client == "directory":
        return DirectoryDsaClient(settings.dsa_directory)
    url = endpoint or settings.dsa_endpoint
    if not url or not settings.dsa_token:
        raise DsaNotConfigured(
            "Set REMPART_DSA_ENDPOINT (or --endpoint) and REMPART_DSA_TOKEN, or "
            "REMPART_DSA_CLIENT=directory."
        )
    return HttpDsaClient(url, settings.dsa_token)


# How statements reach the database, chosen by ``REMPART_DSA_CLIENT``; held by the runtime.
PORT: Port[DsaClient] = Port("dsa_client")
ports.register(PORT, "http", lambda rt: build_client(rt.settings))
ports.register(PORT, "directory", lambda rt: DirectoryDsaClient(rt.settings.dsa_directory))


def submit(engine: Engine, *, client: DsaClient, now: datetime) -> dict[str, int]:
    """Send every statement not yet accepted. Returns how many were accepted, already
    known, and refused.

    No transaction is open while the database is asked over the network (30 s timeouts,
    retries with backoff): each batch is read, sent, then its outcome written in a short
    transaction of its own, so a cut-off run keeps the batches it finished."""
    counts = {"accepted": 0, "already_known": 0, "refused": 0}
    after = 0
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
        outcome = _send_batch(client, pending, counts)
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
    client: DsaClient, pending: list[StatementOfReasons], counts: dict[str, int]
) -> dict[int, str | None]:
    """Each statement's outcome: None once the database holds it, else its refusal."""
    outcome: dict[int, str | None] = {}
    todo = []
    for statement in pending:
        # An earlier run may have been cut off after the database took the batch.
        if client.known(statement.puid):
            outcome[statement.id] = None
            counts["already_known"] += 1
        else:
            todo.append(statement)
    while todo:
        answer = client.send([public_payload(s) for s in todo])
        if answer.accepted:
            outcome.update((statement.id, None) for statement in todo)
            counts["accepted"] += len(todo)
            break
        # All or nothing: take out the statements it names, send the rest again.
        errors = answer.errors
        named = {i for i in range(len(todo)) if f"statement_{i}" in errors} or set(range(len(todo)))
        for index in sorted(named):
            statement = todo[index]
            problem = errors.get(f"statement_{index}", errors)
            if "puid" in json.dumps(problem).lower() and client.known(statement.puid):
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

"""``transparency verify --against-log``: is a published report what the audit log says?

Anyone can verify a report from its files (``standalone_verify.py``); this check is for
whoever holds the database, and also covers reports of format 1, which have no dataset.

1. The embedded head is signed by the log's key (and the previous report's head too).
2. Every entry under the head is read again, its leaf hash recomputed from its body, and
   the tree rebuilt: the root must be the signed one, and at the previous report's size
   the previous signed root (the log only grew; nothing under it was rewritten). A
   missing, added, edited or re-ordered entry changes a root.
3. The figures are recomputed from those same bodies (not from the indexed action column,
   which is not hashed) with the same suppression rule, and must equal the published ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from rempart.audit import merkle
from rempart.audit.heads import check_head_signature, public_key_text
from rempart.audit.schemas import SignedTreeHead
from rempart.core.crypto import KeyRing
from rempart.transparency import figures
from rempart.transparency.dataset import reduce, report_key, window_bodies
from rempart.transparency.periods import InvalidPeriod, parse
from rempart.transparency.service import KINDS, compute

_EMBEDDED = re.compile(
    r'<script type="application/json" id="transparency-report">(.*?)</script>', re.DOTALL
)
# Whole chunks of the tree builder, so that slices hash into perfect subtrees directly.
SLICE = 4 * merkle.TreeBuilder.CHUNK
# Bodies worth parsing, per report kind (``Log.add`` ignores the rest of them); every other
# body is only hashed. Canonical JSON sorts keys, so a body starts with its action.
_MARKS = {
    kind: tuple({f'{{"action":"{a.split(".")[0]}.' for a in actions})
    for kind, actions in figures.RELEVANT_FOR.items()
}


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def load_report(path: Path) -> dict[str, Any]:
    """A report as JSON, or the JSON embedded in its HTML form."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        match = _EMBEDDED.search(text)
        if match is None:
            raise ValueError("This HTML file embeds no transparency report.")
        text = match.group(1).replace("<\\/", "</")
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("A transparency report is a JSON object.")
    return document


def _head(value: Any, name: str, verdict: Verdict) -> SignedTreeHead | None:
    try:
        head = SignedTreeHead.model_validate(value)
    except ValidationError:
        verdict.problems.append(f"the {name} is not a signed tree head")
        return None
    if not check_head_signature(head):
        verdict.problems.append(f"the {name} has a bad signature")
        return None
    return head


def _slices(session: Session, size: int) -> Iterator[Sequence[Any]]:
    """(seq, body) rows of every entry under ``size``, streamed in slices. This reads the
    whole log, so on SQLite it skips SQLAlchemy's row objects (a quarter of the time)."""
    connection = session.connection()
    query = "SELECT seq, body FROM audit_entries WHERE seq < {} ORDER BY seq"
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(query.format("?"), (size,))
        yield from iter(lambda: cursor.fetchmany(SLICE), [])
        return
    rows = connection.execution_options(yield_per=SLICE).execute(
        text(query.format(":size")), {"size": size}
    )
    yield from rows.partitions(SLICE)


def verify(
    session: Session,
    *,
    report: dict[str, Any],
    keys: KeyRing | None = None,
    previous: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
) -> Verdict:
    verdict = Verdict()
    head = _head(report.get("head"), "report's head", verdict)
    if head is None:
        return verdict
    if keys is not None and head.public_key != public_key_text(keys):
        verdict.problems.append("the report's head was signed by another key than this log's")
    before = None
    if report.get("previous_head") is not None:
        before = _head(report["previous_head"], "previous report's head", verdict)
    if previous is not None and previous.get("head") != report.get("previous_head"):
        verdict.problems.append("the previous report's head is not the one this report names")
    if before is not None:
        if before.log_id != head.log_id:
            verdict.problems.append("the previous report's head belongs to another log")
        if before.tree_size > head.tree_size:
            verdict.problems.append(
                f"the log shrank: the previous report covered {before.tree_size} entries, "
                f"this one {head.tree_size}"
            )
    kind = report.get("kind")
    try:
        period = parse(str(report.get("period")))
    except InvalidPeriod:
        verdict.problems.append("the report's period is not a quarter or a year")
        return verdict
    if kind not in KINDS:
        verdict.problems.append(f"unknown report kind {kind!r}")
        return verdict

    log = figures.Log()
    marks = _MARKS[str(kind)]
    before_root = before.root_hash.lower() if before is not None else ""
    tree = merkle.TreeBuilder()
    sha256 = hashlib.sha256
    # In slices rather than row by row: hashing and scanning run as comprehensions.
    for rows_slice in _slices(session, head.tree_size):
        start = tree.size
        seqs = [row[0] for row in rows_slice]
        bodies = [row[1] for row in rows_slice]
        if seqs[-1] != start + len(seqs) - 1:
            first = next(start + i for i, seq in enumerate(seqs) if seq != start + i)
            verdict.problems.append(f"entry {first} is missing from the log")
        leaves = [sha256(b"\x00" + body.encode()).digest() for body in bodies]
        cut = before.tree_size - start if before is not None else -1
        if 0 < cut <= len(leaves):
            tree.extend(leaves[:cut])
            if tree.root().hex() != before_root:
                verdict.problems.append(
                    "the log is not consistent with the previous report's head: entries "
                    f"under {cut + start} were changed"
                )
            tree.extend(leaves[cut:])
        else:
            tree.extend(leaves)
        relevant = [i for i, body in enumerate(bodies) if body.startswith(marks)]
        for index in relevant:
            entry = json.loads(bodies[index])
            if entry.get("seq") != seqs[index]:
                verdict.problems.append(f"entry {seqs[index]} holds the body of another entry")
            log.add(entry)
    count = tree.size
    verdict.entries = count
    if count != head.tree_size:
        verdict.problems.append(f"the head covers {head.tree_size} entries; the log holds {count}")
    elif tree.root().hex() != head.root_hash.lower():
        verdict.problems.append("the log does not match the report's signed head")
    if before is not None and before.tree_size == 0 and before.root_hash != merkle.EMPTY_ROOT.hex():
        verdict.problems.append("the previous report's head does not sign an empty log")
    verdict.problems += figures.compare(
        report, compute(str(kind), log, period, figures.version_of(report))
    )
    if dataset is not None and keys is not None:
        verdict.problems += _dataset_problems(session, report, dataset, keys, head, period)
    return verdict


def _dataset_problems(
    session: Session,
    report: dict[str, Any],
    public: dict[str, Any],
    keys: KeyRing,
    head: SignedTreeHead,
    period: figures.Period,
) -> list[str]:
    """What only the holder of the log and the keys can check: each published entry is
    the reduction of the entry under its leaf, and none of the window was left out."""
    kind = str(report["kind"])
    bodies = window_bodies(session, kind=kind, period=period, tree_size=head.tree_size)
    key = report_key(keys, kind=kind, period=period.name, tree_size=head.tree_size)
    version = figures.version_of(report)
    expected = {int(b["seq"]): reduce(b, key, version) for b in bodies}
    records = {r.get("seq"): r for r in public.get("entries") or []}
    problems = [
        f"entry {seq} of the log is missing from the dataset"
        for seq in sorted(set(expected) - set(records))
    ]
    problems += [
        f"dataset entry {seq} is not an entry the report reads"
        for seq in sorted(set(records) - set(expected), key=str)
    ]
    for seq in sorted(set(expected) & set(records)):
        if records[seq].get("entry") != expected[seq]:
            problems.append(f"dataset entry {seq} is not the log's entry {seq} with its pseudonyms")
    return problems

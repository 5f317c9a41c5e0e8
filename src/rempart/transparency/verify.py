"""``transparency verify``: is a published report what the audit log says?

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
from rempart.transparency.periods import InvalidPeriod, parse
from rempart.transparency.service import KINDS, compute

_EMBEDDED = re.compile(
    r'<script type="application/json" id="transparency-report">(.*?)</script>', re.DOTALL
)
# Bodies worth parsing, per report kind; every other body is only hashed.
_MARKS = {
    kind: tuple(f'"action":"{a}"' for a in actions)
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


def _differences(published: Any, recomputed: Any, path: str = "figures") -> list[str]:
    if isinstance(published, dict) and isinstance(recomputed, dict):
        out = []
        for key in sorted(set(published) | set(recomputed)):
            out += _differences(published.get(key), recomputed.get(key), f"{path}.{key}")
        return out
    if isinstance(published, list) and isinstance(recomputed, list):
        if len(published) != len(recomputed):
            return [f"{path} has {len(published)} rows; the log gives {len(recomputed)}"]
        out = []
        for i, (a, b) in enumerate(zip(published, recomputed, strict=True)):
            out += _differences(a, b, f"{path}[{i}]")
        return out
    if published != recomputed:
        return [f"{path} is {published!r} in the report but {recomputed!r} in the log"]
    return []


def verify(
    session: Session,
    report: dict[str, Any],
    *,
    keys: KeyRing | None = None,
    previous: dict[str, Any] | None = None,
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
    tree = merkle.TreeBuilder()
    # Plain rows, streamed: this reads every entry of the log.
    rows = (
        session.connection()
        .execution_options(yield_per=20_000)
        .execute(
            text("SELECT seq, body FROM audit_entries WHERE seq < :size ORDER BY seq"),
            {"size": head.tree_size},
        )
    )
    sha256 = hashlib.sha256
    for seq, body in rows:
        if seq != tree.size:
            verdict.problems.append(f"entry {tree.size} is missing from the log")
            while tree.size < seq:  # keep counting: the roots will not match anyway
                tree.append(merkle.EMPTY_ROOT)
        tree.append(sha256(b"\x00" + body.encode()).digest())  # merkle.leaf_hash, inlined
        if (
            before is not None
            and tree.size == before.tree_size
            and tree.root().hex() != before.root_hash.lower()
        ):
            verdict.problems.append(
                "the log is not consistent with the previous report's head: entries "
                f"under {before.tree_size} were changed"
            )
        if any(mark in body for mark in marks):
            entry = json.loads(body)
            if entry.get("seq") != seq:
                verdict.problems.append(f"entry {seq} holds the body of another entry")
            log.add(entry)
    count = tree.size
    verdict.entries = count
    if count != head.tree_size:
        verdict.problems.append(f"the head covers {head.tree_size} entries; the log holds {count}")
    elif tree.root().hex() != head.root_hash.lower():
        verdict.problems.append("the log does not match the report's signed head")
    if before is not None and before.tree_size == 0 and before.root_hash != merkle.EMPTY_ROOT.hex():
        verdict.problems.append("the previous report's head does not sign an empty log")
    verdict.problems += _differences(report.get("figures"), compute(str(kind), log, period))
    return verdict

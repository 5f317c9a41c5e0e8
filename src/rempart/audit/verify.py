"""``audit verify``: recompute every leaf and root and check them against every signed head.

A finding names one entry when the rows themselves show which (a gap, a body that no longer
matches its leaf hash, a body stored under another sequence number). An entry edited
together with its leaf hash can only be caught by a signed root; the finding then names
the first entry after the last head that still matches, since nothing finer is signed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import merkle
from rempart.audit.codec import entry_timestamp
from rempart.audit.heads import check_head_signature, head_schema, parse_head_file, public_key_text
from rempart.audit.models import AuditEntry, AuditHead, AuditTail
from rempart.audit.schemas import SignedTreeHead, VerificationResult
from rempart.core.crypto import KeyRing


@dataclass
class _Finding:
    entry: int | None
    problem: str
    # Set for a root that does not match: the finding covers entries [entry, range_end).
    range_end: int | None = None


def _tail_size(session: Session) -> int | None:
    return session.execute(select(AuditTail.size).where(AuditTail.id == 1)).scalar_one_or_none()


def _trusted_roots(
    session: Session, head_file: Path, keys: KeyRing | None, findings: list[_Finding]
) -> dict[int, set[str]]:
    """Root hashes signed for each tree size, from the heads table and the head file.

    Heads that fail their signature are reported and then ignored: checking entries
    against a forged root would blame entries that are fine.
    """
    candidates: list[tuple[str, SignedTreeHead]] = []
    if keys is not None:
        rows = session.execute(select(AuditHead).order_by(AuditHead.tree_size)).scalars()
        candidates += [("heads table", head_schema(row, keys)) for row in rows]
    file_heads, bad_lines = parse_head_file(head_file)
    findings += [
        _Finding(None, f"line {number} of the head file is not a signed tree head")
        for number in bad_lines
    ]
    candidates += [("head file", head) for head in file_heads]
    ours = public_key_text(keys) if keys is not None else None
    roots: dict[int, set[str]] = {}
    log_ids: set[str] = set()
    for source, head in candidates:
        if not check_head_signature(head):
            findings.append(
                _Finding(
                    None, f"the head of size {head.tree_size} in the {source} has a bad signature"
                )
            )
        elif ours is not None and head.public_key != ours:
            findings.append(
                _Finding(
                    None,
                    f"the head of size {head.tree_size} in the {source} was signed by another key",
                )
            )
        else:
            log_ids.add(head.log_id)
            roots.setdefault(head.tree_size, set()).add(head.root_hash.lower())
    if len(log_ids) > 1:
        findings.append(_Finding(None, "heads from more than one log key were found"))
    for size, signed in sorted(roots.items()):
        if len(signed) > 1:
            findings.append(_Finding(None, f"two different heads were signed for size {size}"))
    return roots


def _entry_problem(row: AuditEntry, computed: bytes) -> str | None:
    try:
        body = json.loads(row.body)
    except ValueError:
        return f"entry {row.seq} is not valid JSON"
    if not isinstance(body, dict):
        return f"entry {row.seq} is not an audit entry"
    if body.get("seq") != row.seq:
        return f"entry {row.seq} holds the body of entry {body.get('seq')}"
    if computed != row.leaf_hash:
        return f"entry {row.seq} was edited: its body does not match its leaf hash"
    if body.get("action") != row.action:
        return f"entry {row.seq} was edited: its action column does not match its body"
    if body.get("target") != row.target:
        # Receipts find an order's entries through this column.
        return f"entry {row.seq} was edited: its target column does not match its body"
    if body.get("ts") != entry_timestamp(row.recorded_at):
        return f"entry {row.seq} was edited: its recorded_at column does not match its body"
    return None


def _first_bad_entry(findings: Iterable[_Finding]) -> int | None:
    findings = list(findings)
    exact = [f.entry for f in findings if f.entry is not None and f.range_end is None]
    candidates = list(exact)
    for finding in findings:
        if finding.entry is None or finding.range_end is None:
            continue
        start, end = finding.entry, finding.range_end
        # A bad root is explained by an entry already named inside its range.
        if not any(start <= entry < end for entry in exact):
            candidates.append(start)
    return min(candidates) if candidates else None


def verify_log(
    session: Session, *, head_file: Path, keys: KeyRing | None = None
) -> VerificationResult:
    """Recompute the tree from the entries and check it against every signed head."""
    findings: list[_Finding] = []
    # Read before the entries: every entry below this size was committed before the
    # entries are read, whatever the isolation level.
    tail_before = _tail_size(session)
    roots = _trusted_roots(session, head_file, keys, findings)
    sizes = sorted(roots)
    empty = merkle.EMPTY_ROOT.hex()
    if 0 in roots and roots[0] != {empty}:
        findings.append(_Finding(None, "the head of size 0 does not sign an empty tree"))
    next_head = sizes.index(0) + 1 if 0 in roots else 0

    frontier: list[bytes] = []
    count = 0
    expected = 0
    last_good = 0
    stream = session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    ).scalars()
    for row in stream:
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}..{row.seq - 1}"
            findings.append(_Finding(expected, f"entry {missing} is missing"))
            expected = row.seq
        computed = merkle.leaf_hash(row.body.encode())
        problem = _entry_problem(row, computed)
        if problem is not None:
            findings.append(_Finding(row.seq, problem))
        frontier = merkle.frontier_append(frontier, count, computed)
        count += 1
        expected += 1
        while next_head < len(sizes) and sizes[next_head] == count:
            root = merkle.frontier_root(frontier).hex()
            if roots[count] == {root}:
                last_good = count
            else:
                findings.append(
                    _Finding(
                        last_good,
                        f"entries {last_good}..{count - 1} do not match the head signed "
                        f"for size {count}",
                        range_end=count,
                    )
                )
            next_head += 1
    if sizes and sizes[-1] > count:
        what = "the log was truncated: " if count == expected else ""
        findings.append(
            _Finding(
                count,
                f"{what}a head covers {sizes[-1]} entries but only {count} remain",
            )
        )
    tail_after = _tail_size(session)
    if tail_before is None or tail_after is None:
        findings.append(_Finding(None, "the audit_tail row is missing"))
    else:
        if expected < tail_before:
            findings.append(
                _Finding(
                    expected,
                    f"entries {expected}..{tail_before - 1} are missing: "
                    f"the tail counts {tail_before} entries",
                )
            )
        if expected > tail_after:
            findings.append(
                _Finding(
                    tail_after,
                    f"entries {tail_after}..{expected - 1} lie beyond the tail ({tail_after})",
                )
            )
    return VerificationResult(
        ok=not findings,
        entries=count,
        heads_checked=len(roots),
        first_bad_entry=_first_bad_entry(findings),
        problems=[f.problem for f in findings],
    )

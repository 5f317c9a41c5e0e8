"""The audit log: one helper to record, signed tree heads, proofs and verification.

``record`` queues an entry on the session; the entries are appended when that session
commits, under a lock on the single ``audit_tail`` row. Only that last step is serialised,
so concurrent transactions on PostgreSQL still produce one gap-free log.
"""

from __future__ import annotations

import base64
import fcntl
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.orm import Session

from rempart.audit import merkle
from rempart.audit.exceptions import EntryOutsideTree, PersonalDataInAudit, UnknownTreeHead
from rempart.audit.models import AuditEntry, AuditHead, AuditTail
from rempart.audit.schemas import (
    AuditEntryPage,
    AuditEntryRead,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    VerificationResult,
)
from rempart.core.clock import utcnow
from rempart.core.crypto import KeyRing
from rempart.core.db import transaction

ENTRY_FORMAT_VERSION = 1
_PENDING = "rempart.audit.pending"
_PHONE_LIKE = re.compile(r"\+?\d[\d .\-()]{7,}\d")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_no_personal_data(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _check_no_personal_data(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_no_personal_data(item)
    elif isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            raise PersonalDataInAudit("an audit entry may not hold an IP address")
        if _PHONE_LIKE.fullmatch(value):
            raise PersonalDataInAudit("an audit entry may not hold a phone number")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    country: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a state change (or a read of personal data) in the caller's transaction."""
    details = details or {}
    _check_no_personal_data(details)
    if target is not None:
        _check_no_personal_data(target)
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append(
        {"actor": actor, "action": action, "target": target, "country": country, "details": details}
    )


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if pending:
        append_entries(session, pending)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def append_entries(session: Session, pending: list[dict[str, Any]]) -> list[int]:
    tail = session.execute(
        select(AuditTail).where(AuditTail.id == 1).with_for_update()
    ).scalar_one()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for offset, item in enumerate(pending):
        seq = tail.size + offset
        body = canonical_json(
            {"v": ENTRY_FORMAT_VERSION, "seq": seq, "ts": _timestamp(now), **item}
        )
        rows.append(
            {
                "seq": seq,
                "action": item["action"],
                "recorded_at": now,
                "body": body.decode(),
                "leaf_hash": merkle.leaf_hash(body),
            }
        )
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditTail).where(AuditTail.id == 1).values(size=tail.size + len(rows)))
    return [row["seq"] for row in rows]


# -- signed tree heads ---------------------------------------------------------------


def _signed_bytes(*, log_id: str, tree_size: int, timestamp: int, root_hash: str) -> bytes:
    return canonical_json(
        {
            "v": 1,
            "log_id": log_id,
            "tree_size": tree_size,
            "timestamp": timestamp,
            "root_hash": root_hash,
        }
    )


def _head_schema(row: AuditHead, keys: KeyRing) -> SignedTreeHead:
    return SignedTreeHead(
        log_id=keys.log_id,
        tree_size=row.tree_size,
        timestamp=row.timestamp_ms,
        root_hash=row.root_hash.hex(),
        signature=base64.b64encode(row.signature).decode(),
        public_key=base64.b64encode(keys.public_key_bytes).decode(),
    )


def check_head_signature(head: SignedTreeHead) -> bool:
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(head.public_key))
    message = _signed_bytes(
        log_id=head.log_id,
        tree_size=head.tree_size,
        timestamp=head.timestamp,
        root_hash=head.root_hash,
    )
    try:
        public.verify(base64.b64decode(head.signature), message)
    except InvalidSignature:
        return False
    return True


def _latest_head(session: Session) -> AuditHead | None:
    return session.execute(
        select(AuditHead).order_by(AuditHead.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


def sign_head(engine: Engine, *, keys: KeyRing, head_file: Path) -> SignedTreeHead | None:
    """Sign a head over every committed entry if the log grew since the last head."""
    with transaction(engine) as session:
        tail_size = session.execute(select(AuditTail.size).where(AuditTail.id == 1)).scalar_one()
        latest = _latest_head(session)
        start = latest.tree_size if latest else 0
        if tail_size == start and latest is not None:
            return None
        frontier = [bytes.fromhex(h) for h in json.loads(latest.frontier)] if latest else []
        leaves = session.execute(
            select(AuditEntry.seq, AuditEntry.leaf_hash)
            .where(AuditEntry.seq >= start, AuditEntry.seq < tail_size)
            .order_by(AuditEntry.seq)
        ).all()
        for expected, (seq, leaf) in enumerate(leaves, start):
            if seq != expected:
                raise RuntimeError(f"audit entry {expected} is missing; run `rempart audit verify`")
            frontier = merkle.frontier_append(frontier, seq, leaf)
        root = merkle.frontier_root(frontier)
        timestamp = int(utcnow().timestamp() * 1000)
        message = _signed_bytes(
            log_id=keys.log_id, tree_size=tail_size, timestamp=timestamp, root_hash=root.hex()
        )
        row = AuditHead(
            tree_size=tail_size,
            root_hash=root,
            timestamp_ms=timestamp,
            signature=keys.sign(message),
            frontier=json.dumps([h.hex() for h in frontier]),
        )
        session.add(row)
        head = _head_schema(row, keys)
    _append_head_file(head_file, head)
    return head


def _append_head_file(path: Path, head: SignedTreeHead) -> None:
    # The head file lives outside the database, so that a database rolled back or
    # truncated after the latest head is still caught.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(head.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_head_file(path: Path) -> list[SignedTreeHead]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [SignedTreeHead.model_validate_json(line) for line in lines if line.strip()]


def latest_head(session: Session, *, keys: KeyRing) -> SignedTreeHead:
    row = _latest_head(session)
    if row is None:
        raise UnknownTreeHead("No tree head has been signed yet.")
    return _head_schema(row, keys)


def head_at(session: Session, *, keys: KeyRing, tree_size: int) -> SignedTreeHead:
    row = session.get(AuditHead, tree_size)
    if row is None:
        raise UnknownTreeHead("No signed tree head has that size.", tree_size=tree_size)
    return _head_schema(row, keys)


# -- proofs ---------------------------------------------------------------------------


def _leaf_hashes(session: Session, size: int) -> list[bytes]:
    return list(
        session.execute(
            select(AuditEntry.leaf_hash).where(AuditEntry.seq < size).order_by(AuditEntry.seq)
        ).scalars()
    )


def prove_inclusion(
    session: Session, *, keys: KeyRing, entry: int, tree_size: int | None = None
) -> InclusionProof:
    head = (
        latest_head(session, keys=keys)
        if tree_size is None
        else head_at(session, keys=keys, tree_size=tree_size)
    )
    if not 0 <= entry < head.tree_size:
        raise EntryOutsideTree("The entry is not inside that tree head.", tree_size=head.tree_size)
    leaves = _leaf_hashes(session, head.tree_size)
    return InclusionProof(
        entry=entry,
        tree_size=head.tree_size,
        leaf_hash=leaves[entry].hex(),
        audit_path=[h.hex() for h in merkle.inclusion_proof(entry, leaves)],
        head=head,
    )


def check_inclusion(proof: InclusionProof) -> bool:
    return check_head_signature(proof.head) and merkle.verify_inclusion(
        bytes.fromhex(proof.leaf_hash),
        proof.entry,
        proof.head.tree_size,
        [bytes.fromhex(h) for h in proof.audit_path],
        bytes.fromhex(proof.head.root_hash),
    )


def prove_consistency(
    session: Session, *, keys: KeyRing, first: int, second: int
) -> ConsistencyProof:
    first_head = head_at(session, keys=keys, tree_size=first)
    second_head = head_at(session, keys=keys, tree_size=second)
    if first > second:
        raise EntryOutsideTree("The first tree must not be larger than the second.")
    leaves = _leaf_hashes(session, second)
    path = merkle.consistency_proof(first, leaves) if first > 0 else []
    return ConsistencyProof(first=first_head, second=second_head, proof=[h.hex() for h in path])


def check_consistency(proof: ConsistencyProof) -> bool:
    if not (check_head_signature(proof.first) and check_head_signature(proof.second)):
        return False
    if proof.first.log_id != proof.second.log_id:
        return False
    if proof.first.tree_size == 0:
        return True
    return merkle.verify_consistency(
        proof.first.tree_size,
        proof.second.tree_size,
        bytes.fromhex(proof.first.root_hash),
        bytes.fromhex(proof.second.root_hash),
        [bytes.fromhex(h) for h in proof.proof],
    )


def list_entries(session: Session, *, after: int, limit: int) -> AuditEntryPage:
    rows = (
        session.execute(
            select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
        )
        .scalars()
        .all()
    )
    items = [AuditEntryRead(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash.hex()) for r in rows]
    return AuditEntryPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


# -- verification ---------------------------------------------------------------------


@dataclass
class _Finding:
    entry: int | None
    problem: str


def _entry_findings(session: Session) -> Iterator[tuple[int, bytes] | _Finding]:
    """Yield each entry's recomputed leaf hash in order, or a finding where it is broken."""
    expected = 0
    stream = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for row in stream:
        if row.seq != expected:
            yield _Finding(expected, f"entry {expected} is missing (next present is {row.seq})")
            expected = row.seq
        computed = merkle.leaf_hash(row.body.encode())
        try:
            body = json.loads(row.body)
        except ValueError:
            yield _Finding(row.seq, f"entry {row.seq} is not valid JSON")
            body = {}
        if body.get("seq") != row.seq:
            yield _Finding(row.seq, f"entry {row.seq} holds the body of entry {body.get('seq')}")
        elif body.get("action") != row.action or computed != row.leaf_hash:
            yield _Finding(row.seq, f"entry {row.seq} was edited")
        yield (row.seq, computed)
        expected += 1


def verify_log(
    session: Session, *, head_file: Path, keys: KeyRing | None = None
) -> VerificationResult:
    """Recompute the tree from the entries and check it against every signed head."""
    heads: dict[int, SignedTreeHead] = {}
    problems: list[_Finding] = []
    db_heads = session.execute(select(AuditHead).order_by(AuditHead.tree_size)).scalars().all()
    if keys is not None:
        for row in db_heads:
            heads[row.tree_size] = _head_schema(row, keys)
    for head in read_head_file(head_file):
        if head.tree_size in heads and heads[head.tree_size].root_hash != head.root_hash:
            problems.append(
                _Finding(None, f"two different heads were signed for size {head.tree_size}")
            )
        heads[head.tree_size] = head
    for head in heads.values():
        if not check_head_signature(head):
            problems.append(
                _Finding(None, f"the head of size {head.tree_size} has a bad signature")
            )
    log_ids = {h.log_id for h in heads.values()}
    if keys is not None:
        log_ids.add(keys.log_id)
    if len(log_ids) > 1:
        problems.append(_Finding(None, "heads from more than one log key were found"))

    sizes = sorted(heads)
    next_head = 0
    frontier: list[bytes] = []
    count = 0
    previous_size = 0
    for item in _entry_findings(session):
        if isinstance(item, _Finding):
            problems.append(item)
            continue
        _, computed = item
        frontier = merkle.frontier_append(frontier, count, computed)
        count += 1
        while next_head < len(sizes) and sizes[next_head] == count:
            head = heads[count]
            if merkle.frontier_root(frontier).hex() != head.root_hash:
                problems.append(
                    _Finding(
                        previous_size,
                        f"entries {previous_size}..{count - 1} do not match the head signed "
                        f"for size {count}",
                    )
                )
            previous_size = count
            next_head += 1
    if sizes and sizes[-1] > count:
        problems.append(
            _Finding(
                count,
                f"the log was truncated: a head covers {sizes[-1]} entries but only {count} remain",
            )
        )
    bad = [p.entry for p in problems if p.entry is not None]
    return VerificationResult(
        ok=not problems,
        entries=count,
        heads_checked=len(heads),
        first_bad_entry=min(bad) if bad else None,
        problems=[p.problem for p in problems],
    )


def ensure_tail(session: Session) -> None:
    """The tail row is created by the migration; tests that build tables directly need it too."""
    if session.get(AuditTail, 1) is None:
        size = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        session.add(AuditTail(id=1, size=size))

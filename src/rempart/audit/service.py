"""The audit log: one helper to record, signed tree heads, proofs and verification.

``record`` queues an entry on the session; the entries are appended when that session
commits, under a lock on the single ``audit_tail`` row. Only that last step is serialised,
so concurrent transactions on PostgreSQL still produce one gap-free log.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from rempart.audit import merkle, tiles
from rempart.audit.codec import canonical_json, entry_timestamp
from rempart.audit.events import AuditEvent
from rempart.audit.exceptions import AuditLogBroken, EntryOutsideTree, UnknownTreeHead
from rempart.audit.heads import (
    append_head_file,
    head_schema,
    last_published_head,
    signed_bytes,
)
from rempart.audit.heads import check_head_signature as check_head_signature
from rempart.audit.heads import read_head_file as read_head_file
from rempart.audit.models import AuditEntry, AuditHead, AuditTail
from rempart.audit.personal import check_no_personal_data
from rempart.audit.schemas import (
    AuditEntryPage,
    AuditEntryRead,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
)
from rempart.audit.verify import verify_log as verify_log
from rempart.core.clock import now_of, now_on
from rempart.core.crypto import KeyRing
from rempart.core.db import execute_many, transaction

ENTRY_FORMAT_VERSION = 1
MAX_ACTION_LENGTH = 64  # the width of audit_entries.action
# Leaves read and hashed at a time when a head is signed: bounds the signer's memory.
SIGN_CHUNK = 1 << 16
_PENDING = "rempart.audit.pending"
_SAVEPOINT_MARKS = "rempart.audit.savepoints"

__all__ = [
    "append_entries",
    "canonical_json",
    "check_consistency",
    "check_head_signature",
    "check_inclusion",
    "head_at",
    "latest_head",
    "list_entries",
    "prove_consistency",
    "prove_inclusion",
    "read_head_file",
    "record",
    "record_untyped",
    "sign_head",
    "verify_log",
]


def record(
    session: Session,
    event: AuditEvent,
    *,
    actor: str,
    target: str | None = None,
    country: str | None = None,
) -> None:
    """Record a state change (or a read of personal data) in the caller's transaction.

    The event names the action and holds the details (see ``audit.events``)."""
    record_untyped(
        session,
        actor=actor,
        action=event.action,
        target=target,
        country=country,
        details=event.details(),
    )


def record_untyped(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    country: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry with free details, for what no domain writes (the tests' own entries):
    the domains record events, which the figures and the dataset read back by model."""
    if not action or len(action) > MAX_ACTION_LENGTH:
        raise ValueError(f"an audit action must hold 1 to {MAX_ACTION_LENGTH} characters")
    # A copy taken now: a caller that changes its dict before commit cannot change (or
    # slip personal data into) what is recorded, and what cannot be JSON fails here, not
    # at commit time.
    snapshot = json.loads(canonical_json(details or {}))
    item = {
        "actor": actor,
        "action": action,
        "target": target,
        "country": country,
        "details": snapshot,
    }
    check_no_personal_data(item)
    session.info.setdefault(_PENDING, []).append(item)


# Entries wait on the session until the outermost transaction commits. A savepoint that
# rolls back takes back the entries recorded inside it, and only those.


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks: dict[int, int] = session.info.setdefault(_SAVEPOINT_MARKS, {})
        marks[id(transaction)] = len(session.info.get(_PENDING, []))


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        _forget_pending(session)
        return
    mark = session.info.get(_SAVEPOINT_MARKS, {}).pop(id(previous_transaction), None)
    pending: list[dict[str, Any]] = session.info.get(_PENDING, [])
    if mark is not None:
        del pending[mark:]


@event.listens_for(Session, "after_transaction_end")
def _end_of_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Committed entries were taken already; anything left belongs to a transaction
        # that was rolled back or closed without a commit.
        _forget_pending(session)


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # releasing a savepoint: the entries wait for the real commit
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    session.info.pop(_SAVEPOINT_MARKS, None)
    if pending:
        append_entries(session, pending)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_SAVEPOINT_MARKS, None)


def append_entries(session: Session, pending: list[dict[str, Any]]) -> list[int]:
    # Everything else the transaction writes goes to the database first, so that the
    # tail lock is held only for the two statements below.
    session.flush()
    # The size is read as a column, not an entity: an AuditTail object already in this
    # session's identity map would hand back a stale size.
    size = session.execute(
        select(AuditTail.size).where(AuditTail.id == 1).with_for_update()
    ).scalar_one()
    now = now_of(session)
    rows: list[dict[str, Any]] = []
    for offset, item in enumerate(pending):
        seq = size + offset
        body = canonical_json(
            {"v": ENTRY_FORMAT_VERSION, "seq": seq, "ts": entry_timestamp(now), **item}
        )
        rows.append(
            {
                "seq": seq,
                "action": item["action"],
                "recorded_at": now,
                "body": body.decode(),
                "leaf_hash": merkle.leaf_hash(body),
                "target": item["target"],
            }
        )
    # Straight to the driver on SQLite: the ORM's per-row work cost more than the insert
    # itself, inside the tail lock (a bulk import appends millions of entries).
    execute_many(session, AuditEntry.__table__, rows)
    session.execute(update(AuditTail).where(AuditTail.id == 1).values(size=size + len(rows)))
    return [row["seq"] for row in rows]


# -- signed tree heads ---------------------------------------------------------------


def _latest_head(session: Session) -> AuditHead | None:
    return session.execute(
        select(AuditHead).order_by(AuditHead.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


def _refuse_to_fork(latest: AuditHead | None, published: SignedTreeHead | None) -> None:
    """A log that signs a head its published heads do not lead to has forked: refuse.

    This happens when the database was restored from a backup or replaced after heads
    were published; carrying on would sign two different logs under one key.
    """
    if published is None:
        return
    db_size = latest.tree_size if latest is not None else 0
    if published.tree_size > db_size or (
        latest is not None
        and published.tree_size == db_size
        and published.root_hash != latest.root_hash.hex()
    ):
        raise AuditLogBroken(
            f"The head file holds a head of size {published.tree_size} that the database's "
            f"latest head (size {db_size}) does not match: the database was rolled back or "
            "replaced. Run `rempart audit verify`; no head is signed until this is resolved.",
            tree_size=published.tree_size,
        )


def sign_head(engine: Engine, *, keys: KeyRing, head_file: Path) -> SignedTreeHead | None:
    """Sign a head over every committed entry if the log grew since the last head.

    The leaves are read and hashed with no write transaction open, a chunk at a time (a
    bulk import leaves millions); the subtree roots of each chunk but the last are stored
    in a short transaction of their own (derived data, harmless ahead of their head), and
    the last write re-checks that no other signer got there first and stores the head.
    """
    published = last_published_head(head_file, keys)
    with transaction(engine, readonly=True) as session:
        tail_size = session.execute(select(AuditTail.size).where(AuditTail.id == 1)).scalar_one()
        latest = _latest_head(session)
    _refuse_to_fork(latest, published)
    start = latest.tree_size if latest is not None else 0
    if tail_size == start:
        return None
    if tail_size < start:
        raise AuditLogBroken(
            f"The tail counts {tail_size} entries but a head covers {start}.",
            tree_size=start,
        )
    frontier: list[bytes] = []
    if latest is not None:
        frontier = [bytes.fromhex(h) for h in json.loads(latest.frontier)]
        # The frontier is not signed; only a frontier that yields the signed root
        # may be built on.
        if merkle.frontier_root(frontier) != latest.root_hash:
            raise AuditLogBroken(
                f"The stored frontier of the head of size {start} does not match its signed root.",
                tree_size=start,
            )
    nodes: list[tuple[int, int, bytes]] = []
    position = start
    while position < tail_size:
        if nodes:
            with transaction(engine) as session:
                tiles.store_roots(session, nodes)
            nodes = []
        end = min(position + SIGN_CHUNK, tail_size)
        with transaction(engine, readonly=True) as session:
            leaves = session.execute(
                select(AuditEntry.seq, AuditEntry.leaf_hash)
                .where(AuditEntry.seq >= position, AuditEntry.seq < end)
                .order_by(AuditEntry.seq)
            ).all()
        for expected, (seq, leaf) in enumerate(leaves, position):
            if seq != expected:
                raise AuditLogBroken(
                    f"Audit entry {expected} is missing; run `rempart audit verify`.",
                    entry=expected,
                )
            frontier = merkle.frontier_append_nodes(frontier, seq, leaf, nodes)
        if position + len(leaves) != end:
            missing = position + len(leaves)
            raise AuditLogBroken(
                f"Audit entry {missing} is missing; run `rempart audit verify`.",
                entry=missing,
            )
        position = end
    root = merkle.frontier_root(frontier)
    timestamp = int(now_on(engine).timestamp() * 1000)
    message = signed_bytes(
        log_id=keys.log_id, tree_size=tail_size, timestamp=timestamp, root_hash=root.hex()
    )
    signature = keys.sign(message)
    try:
        with transaction(engine) as session:
            current = _latest_head(session)
            if (current.tree_size if current is not None else 0) != start or (
                current is not None and latest is not None and current.root_hash != latest.root_hash
            ):
                return None  # another signer signed first; the next round continues from it
            tiles.store_roots(session, nodes)
            row = AuditHead(
                tree_size=tail_size,
                root_hash=root,
                timestamp_ms=timestamp,
                signature=signature,
                frontier=json.dumps([h.hex() for h in frontier]),
            )
            session.add(row)
            session.flush()
            head = head_schema(row, keys)
    except IntegrityError:
        return None  # another signer signed this very size first
    append_head_file(head_file, head)
    return head


def latest_head(session: Session, *, keys: KeyRing) -> SignedTreeHead:
    return head_schema(_head_row(session, None), keys)


def head_at(session: Session, *, keys: KeyRing, tree_size: int) -> SignedTreeHead:
    return head_schema(_head_row(session, tree_size), keys)


def _head_row(session: Session, tree_size: int | None) -> AuditHead:
    """The head of that size, or the latest one."""
    if tree_size is None:
        row = _latest_head(session)
        if row is None:
            raise UnknownTreeHead("No tree head has been signed yet.")
        return row
    row = session.get(AuditHead, tree_size)
    if row is None:
        raise UnknownTreeHead("No signed tree head has that size.", tree_size=tree_size)
    return row


# -- proofs ---------------------------------------------------------------------------


def _proofs_under(
    session: Session, row: AuditHead, keys: KeyRing, entries: list[int]
) -> list[InclusionProof]:
    head = head_schema(row, keys)
    plans = {entry: merkle.inclusion_plan(entry, head.tree_size) for entry in entries}
    wanted = {(0, entry) for entry in entries}
    wanted.update(node for plan in plans.values() for pieces in plan for node in pieces)
    roots = tiles.subtree_roots(session, wanted, head.tree_size, tiles.frontier_roots(row))
    signed_root = bytes.fromhex(head.root_hash)
    proofs = []
    for entry, plan in plans.items():
        leaf = roots[(0, entry)]
        path = merkle.resolve_plan(plan, roots)
        # Stored roots are derived data: a proof that does not lead to the signed root is
        # refused here rather than handed out.
        if not merkle.verify_inclusion(leaf, entry, head.tree_size, path, signed_root):
            raise AuditLogBroken(
                "The stored entries do not lead to the signed root; run `rempart audit verify`.",
                tree_size=head.tree_size,
            )
        proofs.append(
            InclusionProof(
                entry=entry,
                tree_size=head.tree_size,
                leaf_hash=leaf.hex(),
                audit_path=[h.hex() for h in path],
                head=head,
            )
        )
    return proofs


def prove_inclusion(
    session: Session, *, keys: KeyRing, entry: int, tree_size: int | None = None
) -> InclusionProof:
    head = _head_row(session, tree_size)
    if not 0 <= entry < head.tree_size:
        raise EntryOutsideTree("The entry is not inside that tree head.", tree_size=head.tree_size)
    return _proofs_under(session, head, keys, [entry])[0]


def prove_target(
    session: Session, *, keys: KeyRing, target: str, action_prefix: str
) -> list[InclusionProof]:
    """Inclusion proofs, under the latest signed head, of every entry about ``target``
    (its actions starting with ``action_prefix``): a receipt its party can keep and check
    offline, and later against a published head."""
    head = _head_row(session, None)
    seqs = list(
        session.execute(
            select(AuditEntry.seq)
            .where(
                AuditEntry.target == target,
                AuditEntry.seq < head.tree_size,
                AuditEntry.action.startswith(action_prefix, autoescape=True),
            )
            .order_by(AuditEntry.seq)
        ).scalars()
    )
    return _proofs_under(session, head, keys, seqs) if seqs else []


def _hashes(values: list[str]) -> list[bytes] | None:
    try:
        decoded = [bytes.fromhex(value) for value in values]
    except ValueError:
        return None
    return decoded if all(len(h) == merkle.HASH_SIZE for h in decoded) else None


def check_inclusion(proof: InclusionProof) -> bool:
    """Offline check: the head is validly signed and the path leads from the leaf to it."""
    if proof.tree_size != proof.head.tree_size or not check_head_signature(proof.head):
        return False
    parts = _hashes([proof.leaf_hash, proof.head.root_hash, *proof.audit_path])
    if parts is None:
        return False
    leaf, root, *path = parts
    return merkle.verify_inclusion(leaf, proof.entry, proof.head.tree_size, path, root)


def prove_consistency(
    session: Session, *, keys: KeyRing, first: int, second: int
) -> ConsistencyProof:
    if not 0 < first <= second:
        raise EntryOutsideTree("The first tree must not be larger than the second.")
    first_row, second_row = _head_row(session, first), _head_row(session, second)
    first_head, second_head = head_schema(first_row, keys), head_schema(second_row, keys)
    plan = merkle.consistency_plan(first, second)
    known = tiles.frontier_roots(first_row) | tiles.frontier_roots(second_row)
    roots = tiles.subtree_roots(
        session, {node for pieces in plan for node in pieces}, second, known
    )
    path = merkle.resolve_plan(plan, roots)
    if not merkle.verify_consistency(
        first,
        second,
        bytes.fromhex(first_head.root_hash),
        bytes.fromhex(second_head.root_hash),
        path,
    ):
        raise AuditLogBroken(
            f"The stored entries do not show the head of size {second} extends the head of "
            f"size {first}; run `rempart audit verify`.",
            tree_size=second,
        )
    return ConsistencyProof(first=first_head, second=second_head, proof=[h.hex() for h in path])


def check_consistency(proof: ConsistencyProof) -> bool:
    """Offline check: both heads are validly signed by one log and the second extends the first."""
    if not (check_head_signature(proof.first) and check_head_signature(proof.second)):
        return False
    if proof.first.log_id != proof.second.log_id:
        return False
    parts = _hashes([proof.first.root_hash, proof.second.root_hash, *proof.proof])
    if parts is None:
        return False
    first_root, second_root, *path = parts
    if proof.first.tree_size == 0:
        # Every tree extends the empty one, provided the first head really is empty.
        return first_root == merkle.EMPTY_ROOT and not path
    return merkle.verify_consistency(
        proof.first.tree_size, proof.second.tree_size, first_root, second_root, path
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


def browse_entries(
    session: Session,
    *,
    before: int | None,
    action_prefix: str | None,
    target: str | None,
    limit: int,
) -> tuple[list[AuditEntryRead], int | None]:
    """Newest first, for people reading the log: by action (a prefix such as ``legal.``)
    and by target, both indexed; the second value is the cursor of the next, older page."""
    query = select(AuditEntry)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
    if target:
        query = query.where(AuditEntry.target == target)
    rows = session.execute(query.order_by(AuditEntry.seq.desc()).limit(limit)).scalars().all()
    items = [AuditEntryRead(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash.hex()) for r in rows]
    return items, (items[-1].seq if len(items) == limit else None)


def recorded(
    session: Session,
    *,
    action: str,
    targets: list[str] | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Entries of one action (by target, or since a moment), oldest first, as their bodies
    read: for pages that show what was done, such as the media a moderator revealed."""
    query = select(AuditEntry.body).where(AuditEntry.action == action)
    if targets is not None:
        query = query.where(AuditEntry.target.in_(targets))
    if since is not None:
        query = query.where(AuditEntry.recorded_at >= since)
    rows = session.execute(query.order_by(AuditEntry.seq).limit(limit)).scalars()
    return [json.loads(body) for body in rows]


def ensure_tail(session: Session) -> None:
    """The tail row is created by the migration; tests that build tables directly need it too."""
    if session.get(AuditTail, 1) is None:
        size = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        session.add(AuditTail(id=1, size=size))

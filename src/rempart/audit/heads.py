"""Signed tree heads: what a signature covers, how it is checked, and the head file.

The head file lives outside the database, so that a database rolled back, truncated or
rewritten after a head was published is still caught.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from rempart.audit.codec import canonical_json
from rempart.audit.models import AuditHead
from rempart.audit.schemas import SignedTreeHead
from rempart.core.crypto import KeyRing

HEAD_FORMAT_VERSION = 1
# The newest heads are at the end; the signer reads no more than this of the file.
_TAIL_BYTES = 64 * 1024


def signed_bytes(*, log_id: str, tree_size: int, timestamp: int, root_hash: str) -> bytes:
    return canonical_json(
        {
            "v": HEAD_FORMAT_VERSION,
            "log_id": log_id,
            "tree_size": tree_size,
            "timestamp": timestamp,
            "root_hash": root_hash,
        }
    )


def head_schema(row: AuditHead, keys: KeyRing) -> SignedTreeHead:
    return SignedTreeHead(
        log_id=keys.log_id,
        tree_size=row.tree_size,
        timestamp=row.timestamp_ms,
        root_hash=row.root_hash.hex(),
        signature=base64.b64encode(row.signature).decode(),
        public_key=base64.b64encode(keys.public_key_bytes).decode(),
    )


def public_key_text(keys: KeyRing) -> str:
    return base64.b64encode(keys.public_key_bytes).decode()


def check_head_signature(head: SignedTreeHead) -> bool:
    """True when the head is signed by its public key and its log id names that key.

    Without the second check anyone could sign a head with their own key and label it
    with the log's id.
    """
    try:
        key_bytes = base64.b64decode(head.public_key, validate=True)
        signature = base64.b64decode(head.signature, validate=True)
        public = Ed25519PublicKey.from_public_bytes(key_bytes)
    except (binascii.Error, ValueError):
        return False
    if head.v != HEAD_FORMAT_VERSION or hashlib.sha256(key_bytes).hexdigest() != head.log_id:
        return False
    message = signed_bytes(
        log_id=head.log_id,
        tree_size=head.tree_size,
        timestamp=head.timestamp,
        root_hash=head.root_hash,
    )
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def append_head_file(path: Path, head: SignedTreeHead) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(head.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def parse_head_file(path: Path) -> tuple[list[SignedTreeHead], list[int]]:
    """The heads in the file, and the numbers of the lines that are not heads at all."""
    if not path.exists():
        return [], []
    heads: list[SignedTreeHead] = []
    bad_lines: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                heads.append(SignedTreeHead.model_validate_json(line))
            except ValidationError:
                bad_lines.append(number)
    return heads, bad_lines


def read_head_file(path: Path) -> list[SignedTreeHead]:
    """Every head in the file; raises ``ValueError`` on a line that is not a head."""
    heads, bad_lines = parse_head_file(path)
    if bad_lines:
        raise ValueError(f"line {bad_lines[0]} of {path} is not a signed tree head")
    return heads


def last_published_head(path: Path, keys: KeyRing) -> SignedTreeHead | None:
    """The newest head in the file that this log's key really signed, if any."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - _TAIL_BYTES))
        chunk = handle.read()
    ours = public_key_text(keys)
    best: SignedTreeHead | None = None
    for line in chunk.splitlines():
        try:
            head = SignedTreeHead.model_validate_json(line)
        except ValidationError:
            continue  # a partial first line of the chunk, or junk
        if head.public_key != ours or not check_head_signature(head):
            continue
        if best is None or head.tree_size > best.tree_size:
            best = head
    return best

from __future__ import annotations

from pydantic import BaseModel


class SignedTreeHead(BaseModel):
    """What a signer commits to. ``signed_bytes`` is exactly what the signature covers."""

    v: int = 1
    log_id: str
    tree_size: int
    timestamp: int
    root_hash: str
    signature: str
    public_key: str


class InclusionProof(BaseModel):
    entry: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]
    head: SignedTreeHead


class ConsistencyProof(BaseModel):
    first: SignedTreeHead
    second: SignedTreeHead
    proof: list[str]


class AuditEntryRead(BaseModel):
    seq: int
    body: str
    leaf_hash: str


class AuditEntryPage(BaseModel):
    items: list[AuditEntryRead]
    next_after: int | None


class VerificationResult(BaseModel):
    ok: bool
    entries: int
    heads_checked: int
    first_bad_entry: int | None = None
    problems: list[str] = []

"""The log is public in the way Certificate Transparency logs are: heads and proofs are
open to anyone; entries (which name cases and principals) only to auditors.

These routes serve the audit journal but live here, not in audit/: they are authorised by
auth, which itself writes to the journal, and the journal stays the lowest domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rempart.audit import service
from rempart.audit.schemas import AuditEntryPage, ConsistencyProof, InclusionProof, SignedTreeHead
from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime

router = APIRouter(prefix="/v1/audit", tags=["audit"])

MAX_SIZE = 2**62


@router.get("/head", response_model=SignedTreeHead)
def get_head(rt: Annotated[Runtime, Depends(runtime)]) -> SignedTreeHead:
    with rt.unit_of_work(readonly=True) as session:
        return service.latest_head(session, keys=rt.keys)


@router.get("/proofs/inclusion", response_model=InclusionProof)
def get_inclusion_proof(
    rt: Annotated[Runtime, Depends(runtime)],
    entry: Annotated[int, Query(ge=0, le=MAX_SIZE)],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_SIZE)] = None,
) -> InclusionProof:
    with rt.unit_of_work(readonly=True) as session:
        return service.prove_inclusion(session, keys=rt.keys, entry=entry, tree_size=tree_size)


@router.get("/proofs/consistency", response_model=ConsistencyProof)
def get_consistency_proof(
    rt: Annotated[Runtime, Depends(runtime)],
    first: Annotated[int, Query(ge=1, le=MAX_SIZE)],
    second: Annotated[int, Query(ge=1, le=MAX_SIZE)],
) -> ConsistencyProof:
    with rt.unit_of_work(readonly=True) as session:
        return service.prove_consistency(session, keys=rt.keys, first=first, second=second)


@router.get("/entries", response_model=AuditEntryPage)
def list_entries(
    caller: Annotated[Caller, Depends(require(Permission.AUDIT_ENTRIES_READ))],
    rt: Annotated[Runtime, Depends(runtime)],
    after: Annotated[int, Query(ge=-1, le=MAX_SIZE)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEntryPage:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_entries(session, after=after, limit=limit)

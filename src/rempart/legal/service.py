"""Lawful disclosure's use cases, one function each: routes, console pages, CLI and demo
call these rather than assembling legal's modules themselves, so that the rules around
a use case (the audited refusal of an order, the order lookup, who releases) are written
once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core.deps import Runtime
from rempart.legal import disclosures, orders, reads, reviews
from rempart.legal.disclosures import DisclosureDownload
from rempart.legal.exceptions import OrderRefused
from rempart.legal.models import Order
from rempart.legal.schemas import OrderRead, ReviewCreate


def submit_order(rt: Runtime, *, caller: Caller, token: str, document: bytes) -> OrderRead:
    """An authority's signed order and its document, verified, checked and stored; what
    the authority may see of it is returned.

    Takes the runtime rather than a session because it owns its transactions: a refused
    order rolls back everything it touched, and its refusal is then recorded in a
    transaction of its own (forged or replayed submissions are worth knowing).
    """
    try:
        # Read and verify, check and encrypt the document with no transaction open, then a
        # short write that checks again what was read.
        with rt.unit_of_work(readonly=True) as session:
            checked = orders.check_submission(session, caller=caller, token=token)
        sealed = orders.seal_submission(
            checked, keys=rt.keys, settings=rt.settings, token=token, document=document
        )
        with rt.unit_of_work() as session:
            order = orders.receive_order(
                session, keys=rt.keys, settings=rt.settings, caller=caller, sealed=sealed
            )
            return reads.authority_view(session, order=order)
    except OrderRefused as exc:
        with rt.unit_of_work() as session:
            orders.record_refused_intake(session, actor=caller.actor, error=exc)
        raise


def review_order(session: Session, *, reference: str, caller: Caller, data: ReviewCreate) -> Order:
    """A legal reviewer's review; two approvals by two people decide (four eyes)."""
    order = reads.get_order(session, reference=reference, authority_id=None)
    return reviews.submit_review(session, order=order, caller=caller, data=data)


def release_disclosure(rt: Runtime, *, reference: str, caller: Caller) -> DisclosureDownload:
    """Sign and release an approved order's package, limited to what was approved.

    Takes the runtime because it owns its transactions: the package is built in a read
    (every record of the period decrypted), signed and encrypted with no transaction open,
    then stored by a short write that checks the order is as it was read.
    """
    with rt.unit_of_work(readonly=True) as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        draft = disclosures.draft_release(session, order=order, keys=rt.keys, settings=rt.settings)
    sealed = disclosures.seal_release(draft, keys=rt.keys)
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        released_at = disclosures.release(
            session,
            order=order,
            sealed=sealed,
            keys=rt.keys,
            caller_id=caller.principal_id,
            actor=caller.actor,
        )
    return disclosures.released_download(sealed, released_at=released_at, keys=rt.keys)


def download_disclosure(rt: Runtime, *, reference: str, caller: Caller) -> DisclosureDownload:
    """The authority's own released package: the download counted and audited in a short
    write, the package decrypted and read once that write has committed."""
    with rt.unit_of_work() as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        stored = disclosures.download(session, order=order, actor=caller.actor)
    return disclosures.opened(stored, keys=rt.keys)


def preview_disclosure(rt: Runtime, *, reference: str, caller: Caller) -> dict[str, Any]:
    """Exactly the package that release would sign and send: built in a read, then the
    preview audited in a short write."""
    with rt.unit_of_work(readonly=True) as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        package = disclosures.preview_package(
            session, order=order, keys=rt.keys, settings=rt.settings
        )
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        disclosures.record_preview(session, order=order, actor=caller.actor)
    return package

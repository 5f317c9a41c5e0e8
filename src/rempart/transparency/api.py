"""Public transparency: no token. The per-country lookup answers like Telegram's
transparency bot; published reports can be fetched and checked by anyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from rempart.audit import service as audit
from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.transparency import service

router = APIRouter(tags=["transparency"])
Rt = Annotated[Runtime, Depends(runtime)]
Country = Annotated[str, Path(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")]
PeriodQuery = Annotated[
    str | None, Query(pattern=r"^\d{4}(-Q[1-4])?$", description="2026-Q3 or 2026.")
]
Kind = Annotated[str, Query(pattern=r"^(lawful_disclosure|dsa)$")]
ReportId = Annotated[int, Path(ge=1, le=2**31)]


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^(lawful_disclosure|dsa)$")
    period: str = Field(pattern=r"^\d{4}(-Q[1-4])?$", description="An ended 2026-Q3 or 2026.")


def _lookup(rt: Runtime, country: str, period: str | None) -> dict[str, Any]:
    with rt.unit_of_work(readonly=True) as session:
        head = audit.latest_head(session, keys=rt.keys)
        return service.country_lookup(session, country=country, period_text=period, head=head)


@router.get("/v1/transparency/reports")
def list_reports(rt: Rt, kind: Kind = "lawful_disclosure", period: PeriodQuery = None) -> Any:
    with rt.unit_of_work(readonly=True) as session:
        return {"items": service.published(session, kind=kind, period=period)}


@router.post("/v1/transparency/reports", status_code=201)
def publish_report(
    body: PublishRequest,
    caller: Annotated[Caller, Depends(require(Permission.TRANSPARENCY_PUBLISH))],
    rt: Rt,
) -> Any:
    """Publish the report of a period that has ended (409 `period_not_ended` otherwise)."""
    return service.publish(rt, kind=body.kind, period_text=body.period)


@router.get("/v1/transparency/reports/{report_id}")
def get_report(report_id: ReportId, rt: Rt) -> Any:
    """A published report exactly as published, signed, with its signed head: check it
    with `python verify_report.py URL` or `rempart transparency verify URL`."""
    with rt.unit_of_work(readonly=True) as session:
        return service.published_document(session, report_id=report_id)


@router.get("/v1/transparency/reports/{report_id}/dataset")
def get_dataset(report_id: ReportId, rt: Rt) -> Any:
    """Every audit entry the report's figures come from, pseudonymised, each with its
    inclusion proof under the report's signed head."""
    with rt.unit_of_work(readonly=True) as session:
        return service.published_dataset(session, report_id=report_id)


@router.get("/v1/transparency/provisional")
def provisional(rt: Rt, kind: Kind = "lawful_disclosure") -> Any:
    """Provisional figures of the quarter under way: marked as such, never a report."""
    return service.provisional(rt, kind=kind)


@router.get("/v1/transparency/{country}")
def country(country: Country, rt: Rt, period: PeriodQuery = None) -> Any:
    """Per quarter: requests from this country's judicial authorities that were fulfilled,
    and the users they affected; with the date of the next report."""
    return _lookup(rt, country, period)

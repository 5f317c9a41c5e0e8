"""Public transparency: no token. The per-country lookup answers like Telegram's
transparency bot; published reports can be fetched and checked by anyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from rempart.audit import service as audit
from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.core.errors import NotFound
from rempart.transparency import service

router = APIRouter(tags=["transparency"])
Rt = Annotated[Runtime, Depends(runtime)]
Country = Annotated[str, Path(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")]
PeriodQuery = Annotated[
    str | None, Query(pattern=r"^\d{4}(-Q[1-4])?$", description="2026-Q3 or 2026.")
]
Kind = Annotated[str, Query(pattern=r"^(lawful_disclosure|dsa)$")]
ReportId = Annotated[int, Path(ge=1, le=2**31)]
PeriodPath = Annotated[str, Path(pattern=r"^\d{4}(-Q[1-4])?$", description="2026-Q3 or 2026.")]
TemplateName = Annotated[str, Path(pattern=r"^\d{1,2}_[A-Za-z_]{1,40}\.csv$")]


class TemplateNotFound(NotFound):
    code = "template_not_found"


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


def _zip(files: dict[str, str], name: str) -> Response:
    return Response(
        service.zipped(files),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/v1/transparency/reports/{report_id}/templates.zip")
def get_templates(report_id: ReportId, rt: Rt) -> Response:
    """A DSA report in the eleven CSV files of the templates of Implementing Regulation
    (EU) 2024/2835: check them with `python verify_report.py URL --templates ZIP_URL`."""
    return _zip(service.dsa_template_files(rt, report_id=report_id), f"dsa-{report_id}.zip")


@router.get("/v1/transparency/reports/{report_id}/templates/{name}")
def get_template(report_id: ReportId, name: TemplateName, rt: Rt) -> Response:
    """One of the template files, e.g. `4_notices.csv`."""
    files = service.dsa_template_files(rt, report_id=report_id)
    if name not in files:
        raise TemplateNotFound(f"The templates have no file {name}.")
    return Response(files[name], media_type="text/csv; charset=utf-8")


@router.get("/v1/transparency/dsa/{period}/templates.zip")
def get_period_templates(period: PeriodPath, rt: Rt) -> Response:
    """The last DSA report published for the period, in the templates of 2024/2835."""
    return _zip(service.dsa_template_files(rt, period_text=period), f"dsa-{period}.zip")


@router.get("/v1/transparency/provisional")
def provisional(rt: Rt, kind: Kind = "lawful_disclosure") -> Any:
    """Provisional figures of the quarter under way: marked as such, never a report."""
    return service.provisional(rt, kind=kind)


@router.get("/v1/transparency/{country}")
def country(country: Country, rt: Rt, period: PeriodQuery = None) -> Any:
    """Per quarter: requests from this country's judicial authorities that were fulfilled,
    and the users they affected; with the date of the next report."""
    return _lookup(rt, country, period)

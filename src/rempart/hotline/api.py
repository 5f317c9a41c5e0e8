"""The list of hotline reports: metadata only, never the media or the uploader's data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.hotline import service
from rempart.hotline.schemas import HotlineReportPage

router = APIRouter(prefix="/v1/hotline", tags=["hotline"])

Reader = Annotated[Caller, Depends(require(Permission.HOTLINE_REPORTS_READ))]
Rt = Annotated[Runtime, Depends(runtime)]


@router.get("/reports", response_model=HotlineReportPage)
def list_reports(
    caller: Reader,
    rt: Rt,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HotlineReportPage:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_reports(session, limit=limit, offset=offset)

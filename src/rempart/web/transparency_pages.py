"""The public's transparency pages: pick a country and a period, read the trend over the
quarters that ended, find the published reports and how to check them. Browsers get HTML
pages, errors included; API clients use /v1/transparency."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rempart.audit import service as audit
from rempart.audit.exceptions import UnknownTreeHead
from rempart.legal import reads as legal_reads
from rempart.transparency import figures, service
from rempart.transparency.periods import InvalidPeriod, next_report_date, quarter_of
from rempart.web.i18n import language, translator
from rempart.web.pages import Rt, Staff, page

router = APIRouter(include_in_schema=False)
PERIOD = re.compile(r"\d{4}(-Q[1-4])?")


def _ended_quarters(now: datetime) -> list[str]:
    """The quarters a reader may pick: those that ended, newest first."""
    last = quarter_of(quarter_of(now).start - timedelta(days=1))
    return [q.name for q in reversed(figures.previous_quarters(last, figures.TREND_QUARTERS))]


def _bars(quarters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trend chart: bars scaled to the largest count; a suppressed count ("<5") is a
    short hatched bar, never a height that would tell it."""
    numbers = [q["fulfilled_requests"] for q in quarters]
    top = max([n for n in numbers if isinstance(n, int)] + [1])
    return [
        {
            "period": q["period"],
            "value": q["fulfilled_requests"],
            "suppressed": q["fulfilled_requests"] == figures.SUPPRESSED,
            "height": round(120 * q["fulfilled_requests"] / top, 1)
            if isinstance(q["fulfilled_requests"], int)
            else 12,
        }
        for q in quarters
    ]


@router.get("/transparency", response_class=HTMLResponse)
def transparency_index(request: Request, rt: Rt, caller: Staff) -> HTMLResponse:
    with rt.unit_of_work(readonly=True) as session:
        countries = legal_reads.authority_countries(session)
        reports = [
            *service.published(session, kind="lawful_disclosure", period=None),
            *service.published(session, kind="dsa", period=None),
        ]
    return page(
        request,
        "transparency_index.html",
        caller=caller,
        countries=countries,
        quarters=_ended_quarters(rt.now()),
        reports=reports,
        next_report=next_report_date(rt.now()).isoformat(),
    )


@router.get("/transparency/lookup")
def transparency_pick(request: Request) -> Response:
    """The index page's form: a country and a period, to that country's page."""
    country = request.query_params.get("country", "")
    period = request.query_params.get("period", "")
    target = f"/transparency/{country}" + (f"?period={period}" if period else "")
    if not re.fullmatch(r"[A-Za-z]{2}", country) or (period and not PERIOD.fullmatch(period)):
        target = "/transparency"
    return RedirectResponse(target, status_code=303)


@router.get("/transparency/{country}", response_class=HTMLResponse)
def transparency_country(request: Request, rt: Rt, caller: Staff, country: str) -> Response:
    t = translator(language(request))
    period = request.query_params.get("period") or None
    if not re.fullmatch(r"[A-Za-z]{2}", country):
        return page(request, "problem.html", caller=caller, error=t["bad_country"], status=404)
    if country != country.upper():
        target = f"/transparency/{country.upper()}"
        query = request.url.query
        return RedirectResponse(f"{target}?{query}" if query else target, status_code=308)
    if period is not None and not PERIOD.fullmatch(period):
        return page(request, "problem.html", caller=caller, error=t["bad_period"], status=400)
    answer: dict[str, Any]
    try:
        with rt.unit_of_work(readonly=True) as session:
            head = audit.latest_head(session, keys=rt.keys)
            answer = service.country_lookup(
                session, country=country, period_text=period, head=head, trend=True
            )
    except UnknownTreeHead:
        # A new installation: nothing signed yet, so nothing to show.
        answer = {"country": country, "period": period or "", "quarters": [], "tree_size": 0}
    except InvalidPeriod:
        return page(request, "problem.html", caller=caller, error=t["bad_period"], status=400)
    return page(
        request,
        "transparency_country.html",
        caller=caller,
        answer=answer,
        bars=_bars(answer["quarters"]),
        quarters=_ended_quarters(rt.now()),
        next_report=next_report_date(rt.now()).isoformat(),
    )

"""`GET /v1/search`: public, no token, like the platform's own search box."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from rempart.core.deps import Runtime, runtime
from rempart.search import service
from rempart.search.schemas import SearchPage

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=SearchPage)
def search(
    rt: Annotated[Runtime, Depends(runtime)],
    q: Annotated[str, Query(min_length=1, max_length=256)],
    lang: Literal["en", "fr"] = "en",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> Response:
    page = service.public_search(rt.engine, query=q, language=lang, limit=limit, offset=offset)
    # The page is validated once, by the service: serialised by pydantic-core directly
    # rather than validated again by FastAPI against the model it already is.
    return Response(page.model_dump_json(), media_type="application/json")

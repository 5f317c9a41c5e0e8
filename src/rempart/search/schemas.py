from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SearchHit(BaseModel):
    kind: str
    ref: str
    entity_id: str
    title: str | None
    snippet: str | None
    language: str | None
    published_at: datetime


class SearchWarning(BaseModel):
    code: str
    message: str


class SearchPage(BaseModel):
    query: str
    items: list[SearchHit]
    limit: int
    offset: int
    # More results exist beyond this page.
    more: bool
    warning: SearchWarning | None = None

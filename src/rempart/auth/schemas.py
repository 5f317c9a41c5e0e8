from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from rempart.auth.permissions import Role


class PrincipalRead(BaseModel):
    id: int
    name: str
    role: Role
    status: str
    created_at: datetime


class TokenCreated(BaseModel):
    """The only time the token is shown: Rempart keeps just its hash."""

    principal: PrincipalRead
    token: str
    prefix: str

"""The public search index: one row per public entity or post that search may serve.

Only items moderation lets through are here; restricting an item deletes its row and
restoring it puts it back. The full-text index over ``terms`` is SQLite FTS5 (a virtual
table kept in step by triggers) or a PostgreSQL tsvector column with a GIN index, both
made by the migration.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, BigIntPK, UTCDateTime


class SearchDocument(Base):
    __tablename__ = "search_documents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # entity | post
    ref: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    reach: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    terms: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("kind", "ref"),)


class ProtectedQueryCount(Base):
    """How many searches a protection list refused, per day and language: no one's identity."""

    __tablename__ = "search_protected_query_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    list_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)

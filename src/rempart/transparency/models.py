"""Published transparency reports: each one fixed to the signed tree head it was computed
from, and chained to the previous one of its kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class PublishedReport(Base):
    __tablename__ = "transparency_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # lawful_disclosure | dsa
    period: Mapped[str] = mapped_column(String(8))
    tree_size: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    document: Mapped[str] = mapped_column(Text)  # the report, as published (JSON)
    # Its public dataset (JSON); none for reports published before datasets existed.
    dataset: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_transparency_reports_kind_period", "kind", "period"),)

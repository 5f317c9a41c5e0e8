"""Tables of the job queue and the scheduler, shared by every domain's tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # A claimed job is leased, not owned: a worker killed mid-job loses its lease and
    # the job runs again.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)


class ScheduleState(Base):
    __tablename__ = "schedule_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateWindow(Base):
    """Requests counted per key (a keyed hash of a network prefix or a user) and per fixed
    window; old windows are purged daily."""

    __tablename__ = "rate_windows"

    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class WebhookDelivery(Base):
    """A message for the signed webhook (``rempart.notify``): stored in the transaction
    that sends it, posted by the worker after the commit, retried with backoff, and kept
    as a dead letter (``state`` = ``dead``) after the last attempt, for replay by id."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    # The message's lasting name (``legal-notification:12``): receivers drop repeats by it.
    message_key: Mapped[str] = mapped_column(String(160), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    body_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # pending | delivered | dead
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer)
    # When a pending delivery may next be tried; a worker posting it pushes this past the
    # request's timeout, so another worker does not post it at the same time.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last failure, as the receiver's status or the error's type: never the body.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

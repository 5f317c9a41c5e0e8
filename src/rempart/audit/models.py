"""The audit log's tables. An entry's ``body`` is its canonical bytes; the other columns
are copies for querying, checked against the body by ``audit verify``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.core.db import Base, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The entry's target, so that a receipt finds an order's entries by index, not by
    # scanning every body.
    target: Mapped[str | None] = mapped_column(Text, index=True)


class AuditNode(Base):
    """The root of a perfect subtree of at least two leaves, written when a head covering
    it is signed: a proof reads O(log n) of these instead of every leaf. Derived data,
    checked by ``audit verify`` and by each proof against its signed root."""

    __tablename__ = "audit_nodes"
    # Clustered on its key on SQLite: a row lookup reads the key's own page, not an index
    # page and then a table page, and the rows of a tile share pages.
    __table_args__ = ({"sqlite_with_rowid": False},)

    # ``merkle.node_tile(level, idx)``: first in the key so that a tile's roots sit together.
    tile: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTail(Base):
    """A single row whose lock serialises the final append step across writers."""

    __tablename__ = "audit_tail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class AuditHead(Base):
    """A signed tree head. ``frontier`` lets the next signer continue without re-reading leaves."""

    __tablename__ = "audit_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    frontier: Mapped[str] = mapped_column(Text)

"""Hash banks: lists of known violating media from trusted sources, of the registered
signal types (SHA-256, MD5, PDQ: ``signal_types``), imported from a bank source (a CSV
file). A change to the banks rescans the posts that carry media."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import now_of
from rempart.core.db import dialect_insert
from rempart.core.errors import Invalid
from rempart.moderation import events, rescan
from rempart.moderation.models import BankHash
from rempart.moderation.signal_types import (
    SIGNAL_TYPES,
    CsvBankSource,
    HashBankSource,
    InvalidSourceFormat,
)
from rempart.moderation.signals import policy

CHUNK = 5000


class InvalidBankFile(Invalid):
    code = "invalid_bank_file"


@dataclass(frozen=True)
class ImportResult:
    read: int
    added: int
    skipped_low_quality: int


def _validated(line: int, row: dict[str, str]) -> dict[str, str] | None:
    """The row ready to store, or None for a PDQ hash of too low a quality to match on."""
    value = row.get("hash", "").lower()
    algorithm = (row.get("algorithm") or "").lower()
    if not algorithm:
        # Only a value that fits one type is unambiguous (an MD5): 64 hex digits may be a
        # SHA-256 or a PDQ hash, and a guess stores a hash that silently never matches.
        fitting = [t.name for t in SIGNAL_TYPES.values() if t.valid(value)]
        if len(fitting) != 1:
            raise InvalidBankFile(
                f"Line {line}: give the algorithm ({' or '.join(fitting or SIGNAL_TYPES)}): "
                f"a hash of {len(value)} characters could be either.",
                line=line,
            )
        algorithm = fitting[0]
    signal_type = SIGNAL_TYPES.get(algorithm)
    if signal_type is None or not signal_type.valid(value):
        raise InvalidBankFile(f"Line {line}: not a valid {algorithm} hash.", line=line)
    category = row.get("category", "")
    if category not in policy().categories:
        raise InvalidBankFile(f"Line {line}: unknown category.", line=line)
    if not row.get("bank") or len(row["bank"]) > 64:
        raise InvalidBankFile(
            f"Line {line}: a bank name of 1 to 64 characters is needed.", line=line
        )
    quality = row.get("quality")
    if quality and not signal_type.exact:
        if not quality.isdigit():
            raise InvalidBankFile(f"Line {line}: quality must be 0 to 100.", line=line)
        if not signal_type.keeps(int(quality)):
            return None
    return {
        "bank": row["bank"],
        "category": category,
        "source": (row.get("source") or "unspecified")[:256],
        "algorithm": algorithm,
        "value": value,
    }


def import_csv(
    session: Session,
    *,
    path: Path,
    bank: str | None,
    category: str | None,
    source: str | None,
    actor: str,
) -> ImportResult:
    """Validate the whole file first, then store it: a bad line leaves the banks as they were."""
    defaults = {"bank": bank, "category": category, "source": source}
    return import_source(session, source=CsvBankSource(path, defaults), actor=actor)


def import_source(session: Session, *, source: HashBankSource, actor: str) -> ImportResult:
    """Validate every row of the source first, then store them: a bad row leaves the banks
    as they were."""
    rows: list[dict[str, str]] = []
    read = skipped = 0
    try:
        fetched = list(source.rows())
    except InvalidSourceFormat as exc:
        raise InvalidBankFile(str(exc)) from None
    for line, row in fetched:
        read += 1
        checked = _validated(line, row)
        if checked is None:
            skipped += 1
        else:
            rows.append(checked)
    before = session.execute(select(func.count()).select_from(BankHash)).scalar_one()
    now = now_of(session)
    for chunk in _chunks(rows, CHUNK):
        statement = dialect_insert(session, BankHash).on_conflict_do_nothing(
            index_elements=["bank", "algorithm", "value"]
        )
        session.execute(statement, [{**r, "created_at": now} for r in chunk])
    added = session.execute(select(func.count()).select_from(BankHash)).scalar_one() - before
    audit.record(
        session,
        events.BanksImported(
            file=source.name,
            read=read,
            added=added,
            skipped_low_quality=skipped,
            banks=sorted({r["bank"] for r in rows}),
        ),
        actor=actor,
    )
    if added:
        # New known media may be in posts already published: scan those again.
        # The text classifier's answers stand: only the hashes changed.
        rescan.plan(
            session,
            media_only=True,
            reason="hash banks changed",
            actor=actor,
            reuse_scores=True,
        )
    return ImportResult(read=read, added=added, skipped_low_quality=skipped)


def _chunks(rows: list[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]

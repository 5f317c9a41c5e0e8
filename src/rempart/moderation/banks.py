"""Hash banks: lists of known violating media (SHA-256, MD5, PDQ) from trusted sources,
imported from CSV. A change to the banks rescans the posts that carry media."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import utcnow
from rempart.core.db import dialect_insert
from rempart.core.errors import Invalid
from rempart.moderation import events, rescan
from rempart.moderation.models import BankHash
from rempart.moderation.signals import policy

FORMATS = {
    "sha256": re.compile(r"^[0-9a-f]{64}$"),
    "md5": re.compile(r"^[0-9a-f]{32}$"),
    "pdq": re.compile(r"^[0-9a-f]{64}$"),
}
MIN_PDQ_QUALITY = 50
CHUNK = 5000


class InvalidBankFile(Invalid):
    code = "invalid_bank_file"


@dataclass(frozen=True)
class ImportResult:
    read: int
    added: int
    skipped_low_quality: int


def _rows(path: Path, defaults: dict[str, str | None]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "hash" not in reader.fieldnames:
            raise InvalidBankFile("The CSV needs a header with at least a `hash` column.")
        for line, row in enumerate(reader, start=2):
            merged = {k: (v or "").strip() for k, v in row.items() if k}
            for key, value in defaults.items():
                if value and not merged.get(key):
                    merged[key] = value
            yield line, merged


def _validated(line: int, row: dict[str, str]) -> dict[str, str] | None:
    """The row ready to store, or None for a PDQ hash of too low a quality to match on."""
    value = row.get("hash", "").lower()
    algorithm = (row.get("algorithm") or "").lower()
    if not algorithm:
        # Only an MD5 is unambiguous: 64 hex digits may be a SHA-256 or a PDQ hash, and a
        # guess stores a hash that silently never matches.
        if len(value) != 32:
            raise InvalidBankFile(
                f"Line {line}: give the algorithm (sha256 or pdq): a hash of "
                f"{len(value)} characters could be either.",
                line=line,
            )
        algorithm = "md5"
    if algorithm not in FORMATS or not FORMATS[algorithm].match(value):
        raise InvalidBankFile(f"Line {line}: not a valid {algorithm} hash.", line=line)
    category = row.get("category", "")
    if category not in policy().categories:
        raise InvalidBankFile(f"Line {line}: unknown category.", line=line)
    if not row.get("bank") or len(row["bank"]) > 64:
        raise InvalidBankFile(
            f"Line {line}: a bank name of 1 to 64 characters is needed.", line=line
        )
    quality = row.get("quality")
    if algorithm == "pdq" and quality:
        if not quality.isdigit():
            raise InvalidBankFile(f"Line {line}: quality must be 0 to 100.", line=line)
        if int(quality) < MIN_PDQ_QUALITY:
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
    rows: list[dict[str, str]] = []
    read = skipped = 0
    for line, row in _rows(path, defaults):
        read += 1
        checked = _validated(line, row)
        if checked is None:
            skipped += 1
        else:
            rows.append(checked)
    before = session.execute(select(func.count()).select_from(BankHash)).scalar_one()
    now = utcnow()
    for chunk in _chunks(rows, CHUNK):
        statement = dialect_insert(session, BankHash).on_conflict_do_nothing(
            index_elements=["bank", "algorithm", "value"]
        )
        session.execute(statement, [{**r, "created_at": now} for r in chunk])
    added = session.execute(select(func.count()).select_from(BankHash)).scalar_one() - before
    audit.record(
        session,
        events.BanksImported(
            file=path.name,
            read=read,
            added=added,
            skipped_low_quality=skipped,
            banks=sorted({r["bank"] for r in rows}),
        ),
        actor=actor,
    )
    if added:
        # New known media may be in posts already published: scan those again.
        rescan.plan(session, media_only=True, reason="hash banks changed", actor=actor)
    return ImportResult(read=read, added=added, skipped_low_quality=skipped)


def _chunks(rows: list[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]

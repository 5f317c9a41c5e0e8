"""Signal types and hash-bank sources as plugins (as in ThreatExchange HMA): the bank import
validates with the registry, the scan matches every registered type, and a bank may come
from any source, not only a CSV file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import banks, signal_types
from rempart.moderation.models import BankHash
from rempart.moderation.signal_types import SIGNAL_TYPES, HasMediaHashes
from rempart.moderation.signals import Signal


@dataclass
class Media:
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None


@dataclass
class ListSource:
    """A bank fetched from elsewhere (an exchange's API): rows in memory."""

    items: list[dict[str, str]]
    name: str = "exchange:partner"

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        yield from enumerate(self.items, start=1)


class ReversedMd5:
    """A made-up type (the MD5 read backwards) with its own matcher, to show a plugin is
    validated on import and matched on scan without touching either."""

    name = "rmd5"
    exact = False

    def valid(self, value: str) -> bool:
        return len(value) == 32

    def keeps(self, quality: int | None) -> bool:
        return True

    def value_of(self, media: HasMediaHashes) -> tuple[str, int | None] | None:
        return (media.md5[::-1], None) if media.md5 else None

    def match(self, session: object, values: Sequence[tuple[str, int | None]]) -> list[Signal]:
        return [Signal("hash", "weapons", 0.9, f"rmd5 {value}") for value, _ in values]


def test_the_registry_holds_pdq_md5_and_sha256() -> None:
    assert list(SIGNAL_TYPES) == ["pdq", "sha256", "md5"]
    assert SIGNAL_TYPES["md5"].valid("cd" * 16)
    assert not SIGNAL_TYPES["md5"].valid("cd" * 32)
    assert not SIGNAL_TYPES["pdq"].keeps(49)
    assert SIGNAL_TYPES["pdq"].keeps(50)


def test_a_bank_from_any_source_is_validated_by_the_registry(runtime: Runtime) -> None:
    good = [
        {"hash": "ab" * 32, "algorithm": "sha256", "bank": "b", "category": "weapons"},
        # An MD5 needs no algorithm: no other type has 32 hex digits.
        {"hash": "CD" * 16, "bank": "b", "category": "weapons"},
        {
            "hash": "0f" * 32,
            "algorithm": "pdq",
            "bank": "b",
            "category": "weapons",
            "quality": "30",
        },
    ]
    with transaction(runtime.engine) as session:
        result = banks.import_source(session, source=ListSource(good), actor="test")
    assert (result.read, result.added, result.skipped_low_quality) == (3, 2, 1)
    with transaction(runtime.engine, readonly=True) as session:
        stored = set(session.execute(select(BankHash.algorithm, BankHash.value)).all())
    assert stored == {("sha256", "ab" * 32), ("md5", "cd" * 16)}

    ambiguous = [{"hash": "ef" * 32, "bank": "b", "category": "weapons"}]
    with (
        pytest.raises(banks.InvalidBankFile, match=r"give the algorithm \(pdq or sha256\)"),
        transaction(runtime.engine) as session,
    ):
        banks.import_source(session, source=ListSource(ambiguous), actor="test")
    unknown = [{"hash": "ef" * 16, "algorithm": "rmd5", "bank": "b", "category": "weapons"}]
    with (
        pytest.raises(banks.InvalidBankFile, match="not a valid rmd5 hash"),
        transaction(runtime.engine) as session,
    ):
        banks.import_source(session, source=ListSource(unknown), actor="test")


def test_a_registered_type_is_imported_and_matched_on_scan(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SIGNAL_TYPES, "rmd5", ReversedMd5())
    rows = [
        {"hash": "12" * 16, "algorithm": "rmd5", "bank": "b", "category": "weapons"},
        {"hash": "cd" * 16, "algorithm": "md5", "bank": "b", "category": "weapons"},
    ]
    with transaction(runtime.engine) as session:
        assert banks.import_source(session, source=ListSource(rows), actor="test").added == 2
    with transaction(runtime.engine, readonly=True) as session:
        signals = signal_types.media_signals(session, [Media(md5="cd" * 16), Media(md5="ab")])
    assert sorted(s.detail for s in signals) == sorted(
        ["md5 match in bank b", f"rmd5 {('cd' * 16)[::-1]}", "rmd5 ba"]
    )

"""Signal types and hash-bank sources as plugins, as ThreatExchange's Hasher-Matcher-Actioner
(HMA) has them: a ``SignalType`` says what a hash of its kind looks like, which media value
it reads, and how a bank of such hashes is matched; a ``HashBankSource`` yields bank rows
from somewhere (a CSV file today; an exchange's API tomorrow). The bank import validates
with the registry, and the scan matches every registered type: a new type (a video hash,
say) is one class added to ``SIGNAL_TYPES``."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from rempart.core import ports
from rempart.core.ports import Port
from rempart.moderation.signals import Signal, hash_signals, pdq_signals


class HasMediaHashes(Protocol):
    """What the scan knows of an image: ``PostMedia`` rows."""

    @property
    def sha256(self) -> str | None: ...

    @property
    def md5(self) -> str | None: ...

    @property
    def pdq(self) -> str | None: ...

    @property
    def pdq_quality(self) -> int | None: ...


class SignalType(Protocol):
    name: str
    # Exact types are matched together, by equality, in one query per post.
    exact: bool

    def valid(self, value: str) -> bool:
        """Whether a lowercase bank value is a hash of this type."""
        ...

    def keeps(self, quality: int | None) -> bool:
        """Whether a bank hash of this quality (when the source gives one) is worth storing."""
        ...

    def value_of(self, media: HasMediaHashes) -> tuple[str, int | None] | None:
        """The media's hash of this type and its quality, when it has one."""
        ...

    def match(self, session: Session, values: Sequence[tuple[str, int | None]]) -> list[Signal]:
        """Signals for the values that match a bank (inexact types)."""
        ...


class ExactHash:
    """A cryptographic digest: matches only the very same bytes."""

    exact = True

    def __init__(self, name: str, hex_digits: int) -> None:
        self.name = name
        self.hex_digits = hex_digits

    def valid(self, value: str) -> bool:
        return re.fullmatch(rf"[0-9a-f]{{{self.hex_digits}}}", value) is not None

    def keeps(self, quality: int | None) -> bool:
        return True

    def value_of(self, media: HasMediaHashes) -> tuple[str, int | None] | None:
        value: str | None = getattr(media, self.name)
        return (value, None) if value else None

    def match(self, session: Session, values: Sequence[tuple[str, int | None]]) -> list[Signal]:
        return exact_matches(session, [(self.name, value) for value, _ in values])


class PdqHash:
    """Meta's PDQ perceptual hash: near-duplicates within a Hamming distance of 31."""

    name = "pdq"
    exact = False
    # Meta's advice: hashes of quality below 50 (flat, featureless images) match too much.
    min_quality = 50

    def valid(self, value: str) -> bool:
        return re.fullmatch(r"[0-9a-f]{64}", value) is not None

    def keeps(self, quality: int | None) -> bool:
        return quality is None or quality >= self.min_quality

    def value_of(self, media: HasMediaHashes) -> tuple[str, int | None] | None:
        return (media.pdq, media.pdq_quality) if media.pdq else None

    def match(self, session: Session, values: Sequence[tuple[str, int | None]]) -> list[Signal]:
        return pdq_signals(session, hashes=values)


# In the order their signals are listed on a post.
SIGNAL_TYPES: dict[str, SignalType] = {
    t.name: t for t in (PdqHash(), ExactHash("sha256", 64), ExactHash("md5", 32))
}


def exact_matches(session: Session, wanted: Sequence[tuple[str, str]]) -> list[Signal]:
    by_type: dict[str, list[str]] = {}
    for name, value in wanted:
        by_type.setdefault(name, []).append(value)
    return hash_signals(session, wanted=by_type)


def media_signals(session: Session, media: Sequence[HasMediaHashes]) -> list[Signal]:
    """Every registered type's matches for a post's images: the inexact ones each by its
    own index, the exact ones together in one query."""
    signals: list[Signal] = []
    exact: list[tuple[str, str]] = []
    for signal_type in SIGNAL_TYPES.values():
        values = [v for m in media if (v := signal_type.value_of(m)) is not None]
        if not values:
            continue
        if signal_type.exact:
            exact += [(signal_type.name, value) for value, _ in values]
        else:
            signals += signal_type.match(session, values)
    return signals + exact_matches(session, exact)


class HashBankSource(Protocol):
    """Where bank rows come from: each row as ``(position, fields)``, fields among hash,
    algorithm, bank, category, source and quality, for the import to validate."""

    name: str

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]: ...


class InvalidSourceFormat(ValueError):
    pass


class CsvBankSource:
    """A CSV file with a header (at least ``hash``); columns it lacks take the defaults."""

    def __init__(self, path: Path, defaults: dict[str, str | None]) -> None:
        self.path = path
        self.name = path.name
        self.defaults = defaults

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "hash" not in reader.fieldnames:
                raise InvalidSourceFormat("The CSV needs a header with at least a `hash` column.")
            for line, row in enumerate(reader, start=2):
                merged = {k: (v or "").strip() for k, v in row.items() if k}
                for key, value in self.defaults.items():
                    if value and not merged.get(key):
                        merged[key] = value
                yield line, merged


class BankSources(Protocol):
    """Opens a source of bank rows at a location (for CSV, a file's path), with the
    defaults for the fields its rows lack."""

    def open(self, location: str, defaults: dict[str, str | None]) -> HashBankSource: ...


class CsvBankSources:
    def open(self, location: str, defaults: dict[str, str | None]) -> HashBankSource:
        return CsvBankSource(Path(location), defaults)


# Where ``rempart banks import`` reads from, chosen by ``REMPART_HASH_BANK_SOURCE``.
SOURCES: Port[BankSources] = Port("hash_bank_source")
ports.register(SOURCES, "csv", lambda rt: CsvBankSources())

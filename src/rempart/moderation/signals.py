"""Signals: what machines say about an item. Each is a small plugin that scores categories;
none of them decides (the policy does, and humans confirm).

- ``rules``: keyword and pattern lists per language and category (``data/rules.json``);
- ``hashes``: exact SHA-256/MD5 matches against hash banks (PDQ goes through the index);
- ``classifier``: the multilingual text classifier, behind a protocol.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.core.text import fold
from rempart.moderation.models import BankHash


@dataclass(frozen=True)
class Signal:
    source: str  # rules | hash | classifier
    category: str
    score: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CategoryPolicy:
    """``review``/``restrict`` judge the rules, hash matches and a remote model's verdicts;
    ``classifier_review``/``classifier_restrict`` judge the in-house cascade's scores, which
    are on a scale of their own (calibrated by ``scripts/calibrate_policy.py``)."""

    severity: int
    restrict: float
    review: float
    dsa_category: str
    dsa_keyword: str
    illegal: bool
    ground: str
    classifier_review: float
    classifier_restrict: float

    def thresholds(self, signal: Signal) -> tuple[float, float]:
        """(review, restrict) for this signal."""
        if signal.source == "classifier" and signal.detail.rsplit("/", 1)[-1] in CASCADE_STAGES:
            return self.classifier_review, self.classifier_restrict
        return self.review, self.restrict


@dataclass(frozen=True)
class Policy:
    version: str
    categories: dict[str, CategoryPolicy]


def _data(name: str) -> Any:
    return json.loads(resources.files("rempart.moderation").joinpath(f"data/{name}").read_text())


@lru_cache(maxsize=1)
def policy() -> Policy:
    raw = _data("policy.json")
    return Policy(
        version=raw["version"],
        categories={name: CategoryPolicy(**values) for name, values in raw["categories"].items()},
    )


# -- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    category: str
    lang: str
    patterns: tuple[re.Pattern[str], ...]
    score: float


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    mitigations: tuple[tuple[str, re.Pattern[str], float], ...]


@lru_cache(maxsize=1)
def rule_set() -> RuleSet:
    raw = _data("rules.json")
    vocabulary: dict[str, str] = raw["vocabulary"]

    def expand(pattern: str) -> re.Pattern[str]:
        for name, value in vocabulary.items():
            pattern = pattern.replace("{" + name + "}", value)
        return re.compile(pattern)

    return RuleSet(
        version=raw["version"],
        rules=tuple(
            Rule(category, r["lang"], tuple(expand(p) for p in r["all"]), float(r["score"]))
            for category, rules in raw["rules"].items()
            for r in rules
        ),
        mitigations=tuple(
            (m["lang"], expand(m["pattern"]), float(m["mitigation"])) for m in raw["mitigations"]
        ),
    )


def rule_signals(text: str, language: str | None) -> list[Signal]:
    rules = rule_set()
    folded = fold(text)
    best: dict[str, float] = {}
    for rule in rules.rules:
        if rule.lang not in ("any", language) and language in ("fr", "en"):
            continue
        if all(p.search(folded) for p in rule.patterns):
            best[rule.category] = max(best.get(rule.category, 0.0), rule.score)
    if not best:
        return []
    mitigation = max(
        (
            m
            for lang, pattern, m in rules.mitigations
            if lang in ("any", language) and pattern.search(folded)
        ),
        default=0.0,
    )
    return [
        Signal(
            "rules",
            category,
            round(max(score - mitigation, 0.0), 4),
            rules.version + (" (mitigated)" if mitigation else ""),
        )
        for category, score in best.items()
    ]


# -- exact hashes -----------------------------------------------------------------------------


def hash_signals(session: Session, *, wanted: Mapping[str, Sequence[str]]) -> list[Signal]:
    """Exact matches of media hashes, by type (``signal_types``), against every bank."""
    values = [v for found in wanted.values() for v in found if v]
    if not values:
        return []
    rows = session.execute(
        select(BankHash.bank, BankHash.category, BankHash.algorithm).where(
            BankHash.algorithm.in_(sorted(wanted)), BankHash.value.in_(values)
        )
    ).all()
    return [
        Signal("hash", category, 1.0, f"{algorithm} match in bank {bank}")
        for bank, category, algorithm in rows
    ]


# -- classifier -------------------------------------------------------------------------------


class ClassifierResult(Protocol):
    @property
    def scores(self) -> dict[str, float]: ...

    @property
    def model_version(self) -> str: ...

    @property
    def stage(self) -> str: ...


class TextClassifier(Protocol):
    @property
    def model_version(self) -> str: ...

    def classify(self, texts: Sequence[str]) -> Sequence[ClassifierResult]: ...


# The stages whose scores the policy's classifier thresholds were calibrated on (a remote
# model's verdict is judged by the general thresholds).
CASCADE_STAGES = frozenset({"first", "semantic"})


def classifier_signals(result: ClassifierResult) -> list[Signal]:
    return [
        Signal(
            "classifier", category, round(float(score), 4), f"{result.model_version}/{result.stage}"
        )
        for category, score in result.scores.items()
        if category != "none" and score >= 0.05
    ]


# -- perceptual hashes ------------------------------------------------------------------------

_pdq_cache: dict[str, Any] = {}


def _pdq_bank(session: Session) -> tuple[Any, list[tuple[str, str]]]:
    """The PDQ index of every bank, rebuilt only when the banks changed."""
    import numpy as np

    from rempart.moderation.pdq import PdqIndex, parse

    state = session.execute(
        select(func.count(), func.max(BankHash.id)).where(BankHash.algorithm == "pdq")
    ).one()
    key = f"{session.get_bind().engine.url}:{state[0]}:{state[1]}"
    if _pdq_cache.get("key") != key:
        rows = session.execute(
            select(BankHash.value, BankHash.bank, BankHash.category)
            .where(BankHash.algorithm == "pdq")
            .order_by(BankHash.id)
        ).all()
        index = PdqIndex(parse([r[0] for r in rows]), np.arange(len(rows), dtype=np.int64))
        _pdq_cache.update(key=key, index=index, meta=[(r[1], r[2]) for r in rows])
    return _pdq_cache["index"], _pdq_cache["meta"]


def pdq_signals(session: Session, *, hashes: Sequence[tuple[str, int | None]]) -> list[Signal]:
    """Near-duplicates (Hamming distance ≤ 31) of bank images; low-quality hashes ignored."""
    from rempart.moderation.pdq import parse, usable

    wanted = [value for value, quality in hashes if value and usable(quality)]
    if not wanted:
        return []
    index, meta = _pdq_bank(session)
    if not len(index):
        return []
    signals = []
    for matches in index.search(parse(wanted)):
        for row, distance in matches[:3]:
            bank, category = meta[row]
            signals.append(
                Signal("hash", category, 0.99, f"pdq distance {distance} in bank {bank}")
            )
    return signals

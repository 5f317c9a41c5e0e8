"""The classifier's fast first stage: hashed character n-grams and a linear softmax model.

Character 2- to 5-grams of the folded text (lower case, no accents) are hashed into
2^18 buckets, so one model reads French and English, slang and misspellings alike, with
no vocabulary to maintain. Weights are trained by ``scripts/train_ngram.py`` from public
labelled data and the project's own synthetic examples; the model card is
``docs/model-card.md``. It suggests; the policy and humans decide.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from rempart.core.text import fold

CATEGORIES = (
    "none",
    "drug_sales",
    "weapons",
    "scams_fraud",
    "piracy",
    "terrorism",
    "hate_speech",
    "csam_indicators",
    "doxxing",
    "spam",
)
BITS = 18
NGRAMS = (2, 3, 4, 5)
MAX_CHARS = 1000
_SPACES = re.compile(r"\s+")
_MULTIPLIER = np.uint32(2654435761)
_BASE = np.uint32(16777619)


def normalise(text: str) -> bytes:
    return (" " + _SPACES.sub(" ", fold(text[:MAX_CHARS])).strip() + " ").encode("utf-8")


def hashed_ngrams(data: bytes, bits: int = BITS) -> npt.NDArray[np.uint32]:
    """Bucket ids of every character n-gram, computed as vectors (no Python loop per gram)."""
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.uint32)
    pieces = []
    with np.errstate(over="ignore"):
        for n in NGRAMS:
            if len(codes) < n:
                continue
            span = len(codes) - n + 1
            h = np.full(span, n, dtype=np.uint32)
            for k in range(n):
                h = h * _BASE ^ codes[k : k + span]
            pieces.append((h * _MULTIPLIER) >> np.uint32(32 - bits))
    if not pieces:
        return np.zeros(0, dtype=np.uint32)
    return np.concatenate(pieces)


def features(text: str, bits: int = BITS) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    """Distinct buckets and their weights: 1 + log(count), L2-normalised."""
    buckets, counts = np.unique(hashed_ngrams(normalise(text), bits), return_counts=True)
    values = (1.0 + np.log(counts)).astype(np.float32)
    norm = float(np.sqrt((values * values).sum())) or 1.0
    return buckets, values / norm


@dataclass(frozen=True)
class NgramScores:
    scores: dict[str, float]
    top: str
    stage: str
    model_version: str


def scored(
    probabilities: npt.NDArray[np.float32], categories: Sequence[str], stage: str, version: str
) -> list[NgramScores]:
    """One result per row of a classifier's probabilities."""
    results = []
    for row in probabilities:
        scores = {c: round(float(p), 4) for c, p in zip(categories, row, strict=True)}
        top = max(scores, key=scores.__getitem__)
        results.append(NgramScores(scores=scores, top=top, stage=stage, model_version=version))
    return results


class NgramClassifier:
    def __init__(
        self,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        categories: Sequence[str],
        version: str,
    ) -> None:
        self.weights = weights
        self.bias = bias
        self.categories = tuple(categories)
        self.version = version
        self.bits = int(np.log2(weights.shape[0]))

    @property
    def model_version(self) -> str:
        return self.version

    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), len(self.categories)), dtype=np.float32)
        for row, text in enumerate(texts):
            buckets, values = features(text, self.bits)
            out[row] = values @ self.weights[buckets].astype(np.float32) + self.bias
        return out

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        logits = self.logits(texts)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: npt.NDArray[np.float32] = exp / exp.sum(axis=1, keepdims=True)
        return result

    def classify(self, texts: Sequence[str]) -> list[NgramScores]:
        if not texts:
            return []
        return scored(self.probabilities(texts), self.categories, "first", self.version)

    def save(self, path: Any, manifest: dict[str, Any]) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            categories=np.array(self.categories),
            manifest=np.array(json.dumps(manifest)),
        )


def load(path: Any) -> NgramClassifier:
    with np.load(path, allow_pickle=False) as data:
        manifest = json.loads(str(data["manifest"]))
        return NgramClassifier(
            weights=data["weights"],
            bias=data["bias"].astype(np.float32),
            categories=[str(c) for c in data["categories"]],
            version=manifest["version"],
        )


@lru_cache(maxsize=1)
def load_default() -> NgramClassifier:
    model = resources.files("rempart.moderation").joinpath("weights/ngram-v3.npz")
    with resources.as_file(model) as path:
        return load(path)

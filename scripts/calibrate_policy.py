"""Calibrate the policy's classifier thresholds (``classifier_review``, ``classifier_restrict``
per category in ``moderation/data/policy.json``) for the shipped cascade.

    .venv/bin/python scripts/calibrate_policy.py            # print what it would write
    .venv/bin/python scripts/calibrate_policy.py --write    # write policy.json

The cascade's scores (the first stage's, or its mean with the semantic stage's) are rankings on
their own scale: thresholds chosen by hand for v1 let 7 of 254 illegal darknet drug shops reach
review with v2. This script scores the hand-written set (``bench/data/handwritten_eval.jsonl``,
in the repository, never used for training) with the cascade exactly as the worker runs it
and, per category, with the category's offences as positives and every other post (benign
look-alikes, ordinary posts, offences of other categories) as negatives, picks:

- ``classifier_review`` — the trade-off for the review queue: the **highest recall at a
  precision of at least REVIEW_PRECISION** (at most one wrongly queued post per right one), the
  threshold rounded down to the hundredth and never under the 0.05 below which classifier
  signals are dropped. A human sees everything queued; a missed offence is seen by no one.
- ``classifier_restrict`` — automated removal from search before any human looks, so
  **precision 1 on the set with a margin**: RESTRICT_MARGIN above the highest score of any
  post not of the category, rounded up to the 0.05, at least RESTRICT_GAP above review and at
  most 0.99 — and **never below the policy team's own ``restrict``**: 110 benign posts cannot
  show that more may be removed without a human (with the margin alone, hate would restrict
  from 0.75, and 57 of French HateCheck's 455 non-hateful cases, counter-speech and quotes,
  would have left search at once).

The rules' and hash matches' ``review`` and ``restrict`` are the policy team's and untouched:
rule scores are written against them. The darknet pages and the public sets are evaluation
only (``bench/cross_source_eval.py`` prints what these thresholds do there); tuning on them
would make those figures meaningless. Deterministic: the test suite checks that the shipped
policy is what this script computes from the shipped weights.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).parents[1]
HANDWRITTEN = ROOT / "bench" / "data" / "handwritten_eval.jsonl"
POLICY = ROOT / "src" / "rempart" / "moderation" / "data" / "policy.json"
REVIEW_PRECISION = 0.5
REVIEW_FLOOR = 0.05
RESTRICT_MARGIN = 0.10
RESTRICT_GAP = 0.10
RESTRICT_CEILING = 0.99
Scores = dict[str, npt.NDArray[np.float64]]


def handwritten() -> tuple[list[str], npt.NDArray[np.str_]]:
    rows = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def cascade_scores(texts: Sequence[str]) -> Scores:
    """The shipped cascade's score per category, as the worker computes it."""
    from rempart.moderation import ngram, tasks

    shipped = tasks.classifier_for(True, None, "", None, 5.0)
    results = shipped.classify(texts)
    return {c: np.array([r.scores[c] for r in results]) for c in ngram.CATEGORIES}


def review_threshold(
    scores: npt.NDArray[np.float64],
    positive: npt.NDArray[np.bool_],
    precision_wanted: float = REVIEW_PRECISION,
) -> float:
    """The lowest score of a positive at which precision is still ≥ ``precision_wanted``."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(positive[order])
    precision = hits / np.arange(1, len(order) + 1)
    usable = [
        i for i in range(len(order)) if positive[order[i]] and precision[i] >= precision_wanted
    ]
    chosen = float(scores[order[max(usable)]]) if usable else 1.0
    return max(math.floor(round(chosen * 100, 6)) / 100, REVIEW_FLOOR)


def restrict_threshold(
    scores: npt.NDArray[np.float64],
    positive: npt.NDArray[np.bool_],
    review: float,
    floor: float = 0.0,
) -> float:
    highest_negative = float(scores[~positive].max(initial=0.0))
    raw = max(highest_negative + RESTRICT_MARGIN, review + RESTRICT_GAP)
    return max(round(min(math.ceil(round(raw * 20, 6)) / 20, RESTRICT_CEILING), 2), floor)


def calibrate(
    scores: Scores,
    labels: npt.NDArray[np.str_],
    general: dict[str, float],
    precision_wanted: float = REVIEW_PRECISION,
) -> dict[str, tuple[float, float]]:
    """(classifier_review, classifier_restrict) per category; ``general`` is the policy
    team's ``restrict`` per category, the floor of the classifier's."""
    thresholds = {}
    for category, floor in general.items():
        positive = labels == category
        review = review_threshold(scores[category], positive, precision_wanted)
        restrict = restrict_threshold(scores[category], positive, review, floor)
        thresholds[category] = (review, restrict)
    return thresholds


def general_restrict() -> dict[str, float]:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    return {name: float(values["restrict"]) for name, values in policy["categories"].items()}


def report(
    scores: Scores, labels: npt.NDArray[np.str_], thresholds: dict[str, tuple[float, float]]
) -> None:
    print(
        "| category | review | restrict | recall at review | precision at review | "
        "queued benign | restricted (right / wrong) |"
    )
    print("|---|---|---|---|---|---|---|")
    for category, (review, restrict) in thresholds.items():
        positive, column = labels == category, scores[category]
        queued, restricted = column >= review, column >= restrict
        print(
            f"| {category} | {review:.2f} | {restrict:.2f} | "
            f"{(queued & positive).sum() / positive.sum():.2f} | "
            f"{(queued & positive).sum() / max(queued.sum(), 1):.2f} | "
            f"{int((queued & (labels == 'none')).sum())} | "
            f"{int((restricted & positive).sum())} / {int((restricted & ~positive).sum())} |"
        )


def render(policy: dict[str, object]) -> str:
    """policy.json as the policy team writes it: one line per category."""
    categories = policy["categories"]
    assert isinstance(categories, dict)
    head = {k: v for k, v in policy.items() if k != "categories"}
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append('  "categories": {')
    body = [
        f"    {json.dumps(name)}: {json.dumps(values, ensure_ascii=False)}"
        for name, values in categories.items()
    ]
    lines.append(",\n".join(body))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def updated_policy(thresholds: dict[str, tuple[float, float]]) -> dict[str, object]:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    for name, values in policy["categories"].items():
        values["classifier_review"], values["classifier_restrict"] = thresholds[name]
    return dict(policy)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="write policy.json")
    parser.add_argument(
        "--review-precision",
        type=float,
        default=REVIEW_PRECISION,
        help="another trade-off, to compare with bench/cross_source_eval.py (not shipped)",
    )
    args = parser.parse_args()
    texts, labels = handwritten()
    scores = cascade_scores(texts)
    thresholds = calibrate(scores, labels, general_restrict(), args.review_precision)
    report(scores, labels, thresholds)
    if args.write:
        POLICY.write_text(render(updated_policy(thresholds)), encoding="utf-8")
        print(f"wrote {POLICY}")


if __name__ == "__main__":
    main()

"""Classifier stages in a cascade: each later stage is asked only about the items the
stage before it is unsure of, so the slow, better stages see a small share of the traffic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rempart.moderation.ngram import NgramScores
from rempart.moderation.signals import ClassifierResult, TextClassifier

# A stage is unsure when its best category other than "none" scores in this band: below it
# the item is plainly fine (under every classifier_review threshold of the policy, the
# lowest being 0.05), above it plainly over them. The edges are set by
# bench/cross_source_eval.py: with the former (0.3, 0.8) the first stage settled as harmless
# half of the hand-written offences and most darknet drug shops; at 0.03 it still settled one
# hand-written offence; at 0.02 it settles none of the 4,343 cross-source items confidently
# wrong, at the cost of sending about 80% of them on. A first stage trained without ToxiGen
# would still settle 22 of its 371 hateful sentences below 0.02 (none below 0.005, where
# nearly everything is sent on): the band cannot protect against a source this far off.
UNSURE = (0.02, 0.95)


# The semantic stage's answer is blended with the first stage's instead of replacing it: one
# reads spelling, the other meaning, and on the cross-source sets the blend ranks better
# than either alone (hand-written posts: mean AUPRC 0.80 against 0.74 and 0.67). A remote
# model's answer, a verdict rather than a score per category, replaces.
BLENDED_STAGES = frozenset({"semantic"})
# The semantic stage's share of the blend: 0.7 since semantic-v3, chosen by
# bench/hate_selection.py on French HateCheck learnt without it (0.784 at 0.5, 0.787 at 0.7)
# for the ToxiGen test; more would cost the hand-written rows (mean 0.850 at 0.5, 0.830 at 1).
SEMANTIC_SHARE = 0.7


def unsure(result: ClassifierResult) -> bool:
    return UNSURE[0] <= max(s for c, s in result.scores.items() if c != "none") < UNSURE[1]


@dataclass(frozen=True)
class Cascade:
    first: TextClassifier
    second: TextClassifier

    @property
    def model_version(self) -> str:
        return f"{self.first.model_version}+{self.second.model_version}"

    def classify(self, texts: Sequence[str]) -> list[ClassifierResult]:
        results = list(self.first.classify(texts))
        doubtful = [i for i, result in enumerate(results) if unsure(result)]
        answers = self.second.classify([texts[i] for i in doubtful])
        for i, answer in zip(doubtful, answers, strict=True):
            results[i] = blend(results[i], answer) if answer.stage in BLENDED_STAGES else answer
        return results


def blend(first: ClassifierResult, second: ClassifierResult) -> ClassifierResult:
    """Two stages' scores weighted by SEMANTIC_SHARE, credited to the later stage (the one
    that was asked)."""
    w = SEMANTIC_SHARE
    scores = {
        c: round((1 - w) * first.scores.get(c, 0.0) + w * s, 4) for c, s in second.scores.items()
    }
    top = max(scores, key=scores.__getitem__)
    return NgramScores(
        scores=scores, top=top, stage=second.stage, model_version=second.model_version
    )

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

# Lower edges of their own for categories whose first-stage scores are least trusted on text
# unlike training: an item whose score in such a category reaches its edge is sent on even
# when its best score is under UNSURE's lower edge. Hate needs one: a first stage trained
# without ToxiGen settled 22 of ToxiGen's 371 hateful sentences below 0.02. The value is
# chosen by bench/hate_selection.py on a validation source, never on the test source.
CATEGORY_LOWER_EDGES: dict[str, float] = {"hate_speech": 0.02}

# The semantic stage's answer is averaged with the first stage's instead of replacing it: one
# reads spelling, the other meaning, and on the cross-source sets their mean ranks better
# than either alone (hand-written posts: mean AUPRC 0.80 against 0.74 and 0.67). A remote
# model's answer, a verdict rather than a score per category, replaces.
BLENDED_STAGES = frozenset({"semantic"})


def unsure(result: ClassifierResult) -> bool:
    best = max(s for c, s in result.scores.items() if c != "none")
    if best >= UNSURE[1]:
        return False
    return best >= UNSURE[0] or any(
        result.scores.get(category, 0.0) >= edge for category, edge in CATEGORY_LOWER_EDGES.items()
    )


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
    """The mean of two stages' scores, credited to the later stage (the one that was asked)."""
    scores = {c: round((first.scores.get(c, 0.0) + s) / 2, 4) for c, s in second.scores.items()}
    top = max(scores, key=scores.__getitem__)
    return NgramScores(
        scores=scores, top=top, stage=second.stage, model_version=second.model_version
    )

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

# The deep semantic stage (all 12 encoder layers, three times the cost of 4) is asked, in
# the 4-layer stage's place, about the unsure items the first stage scores at DEEP_EDGE or
# more: a twelfth of ordinary posts, most of what the first stage half suspects. Its answer
# replaces the first stage's (share 1.0). Edge, layers and share were chosen together by
# bench/hate_layers.py on French HateCheck learnt without it, within the speed goal.
DEEP_EDGE = 0.1
DEEP_SHARE = 1.0


def best_harm(result: ClassifierResult) -> float:
    return max(s for c, s in result.scores.items() if c != "none")


def unsure(result: ClassifierResult) -> bool:
    return UNSURE[0] <= best_harm(result) < UNSURE[1]


@dataclass(frozen=True)
class Cascade:
    """``second`` is asked about what ``first`` is unsure of; with a ``deep`` stage, the
    unsure items scored at DEEP_EDGE or more are asked of it instead."""

    first: TextClassifier
    second: TextClassifier
    deep: TextClassifier | None = None

    @property
    def model_version(self) -> str:
        later = (self.second, self.deep) if self.deep else (self.second,)
        return "+".join(stage.model_version for stage in (self.first, *later))

    def classify(self, texts: Sequence[str]) -> list[ClassifierResult]:
        results = list(self.first.classify(texts))
        doubtful = [i for i, result in enumerate(results) if unsure(result)]
        routes = [(self.second, SEMANTIC_SHARE, doubtful)]
        if self.deep is not None:
            deeper = {i for i in doubtful if best_harm(results[i]) >= DEEP_EDGE}
            routes = [
                (self.second, SEMANTIC_SHARE, [i for i in doubtful if i not in deeper]),
                (self.deep, DEEP_SHARE, sorted(deeper)),
            ]
        for stage, share, indices in routes:
            answers = stage.classify([texts[i] for i in indices])
            for i, answer in zip(indices, answers, strict=True):
                blended = answer.stage in BLENDED_STAGES
                results[i] = blend(results[i], answer, share) if blended else answer
        return results


def blend(
    first: ClassifierResult, second: ClassifierResult, share: float = SEMANTIC_SHARE
) -> ClassifierResult:
    """Two stages' scores, the later stage (the one that was asked, and credited) weighing
    ``share``."""
    w = share
    scores = {
        c: round((1 - w) * first.scores.get(c, 0.0) + w * s, 4) for c, s in second.scores.items()
    }
    top = max(scores, key=scores.__getitem__)
    return NgramScores(
        scores=scores, top=top, stage=second.stage, model_version=second.model_version
    )

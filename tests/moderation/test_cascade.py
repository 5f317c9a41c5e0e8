"""How the cascade answers, with stub stages (no model): which items reach the second stage
or the deep one, and how a semantic answer is blended with the first stage's (issue 20: the
4-layer stage weighs 0.7 since semantic-v3, the 12-layer stage's answer replaces; both
chosen on a validation source)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from rempart.moderation.cascade import DEEP_EDGE, SEMANTIC_SHARE, UNSURE, Cascade
from rempart.moderation.ngram import CATEGORIES, NgramScores


def scores(**given: float) -> dict[str, float]:
    rest = 1.0 - sum(given.values())
    return {c: given.get(c, 0.0) for c in CATEGORIES if c != "none"} | {"none": rest}


@dataclass(frozen=True)
class Fixed:
    """A stage answering the given scores for each text."""

    answers: dict[str, dict[str, float]]
    stage: str

    @property
    def model_version(self) -> str:
        return f"stub-{self.stage}"

    def classify(self, texts: Sequence[str]) -> list[NgramScores]:
        return [
            NgramScores(
                scores=self.answers[t],
                top=max(self.answers[t], key=self.answers[t].__getitem__),
                stage=self.stage,
                model_version=self.model_version,
            )
            for t in texts
        ]


def test_the_semantic_answer_outweighs_the_first_stage_in_the_blend() -> None:
    first = {
        "unsure": scores(hate_speech=0.1),
        "plainly fine": scores(hate_speech=UNSURE[0] / 2),
        "plainly hate": scores(hate_speech=UNSURE[1]),
    }
    second = {text: scores(hate_speech=0.9) for text in first}
    results = Cascade(Fixed(first, "first"), Fixed(second, "semantic")).classify(list(first))
    assert [r.stage for r in results] == ["semantic", "first", "first"]
    assert SEMANTIC_SHARE == 0.7
    # 0.3 x 0.1 + 0.7 x 0.9 = 0.66, over the 0.5 an even mean gave: the stage that reads
    # meaning ranked a source unlike training better than the one that reads spelling.
    assert abs(results[0].scores["hate_speech"] - 0.66) < 1e-3
    assert results[0].top == "hate_speech"
    assert results[1].scores == first["plainly fine"]


def test_what_the_first_stage_half_suspects_goes_to_the_deep_stage_alone() -> None:
    first = {
        "faint doubt": scores(hate_speech=DEEP_EDGE / 2),
        "half suspected": scores(hate_speech=DEEP_EDGE),
        "plainly fine": scores(hate_speech=UNSURE[0] / 2),
        "plainly hate": scores(hate_speech=UNSURE[1]),
    }
    shallow = Fixed({text: scores(hate_speech=0.9) for text in first}, "semantic")
    deep = Fixed({text: scores(terrorism=0.8) for text in first}, "semantic")
    asked: list[str] = []

    @dataclass(frozen=True)
    class Recording(Fixed):
        def classify(self, texts: Sequence[str]) -> list[NgramScores]:
            asked.extend(texts)
            return super().classify(texts)

    cascade = Cascade(Fixed(first, "first"), shallow, Recording(deep.answers, "semantic"))
    results = cascade.classify(list(first))
    # Each stage is asked only about its own share: the 12-layer one costs three times more.
    assert asked == ["half suspected"]
    assert abs(results[0].scores["hate_speech"] - (0.3 * DEEP_EDGE / 2 + 0.7 * 0.9)) < 1e-3
    # The deep answer replaces the first stage's reading instead of being blended with it.
    assert results[1].scores == pytest.approx(deep.answers["half suspected"], abs=1e-4)
    assert results[1].top == "terrorism"
    assert [r.stage for r in results[2:]] == ["first", "first"]
    assert cascade.model_version == "stub-first+stub-semantic+stub-semantic"

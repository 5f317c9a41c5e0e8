"""Which items the cascade sends to its second stage, with stub stages (no model): the band,
and the lower edge of its own that hate has (issue 20: a first stage that never saw a
source's implicit hate settled some of it as harmless just under the band)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rempart.moderation.cascade import CATEGORY_LOWER_EDGES, UNSURE, Cascade
from rempart.moderation.ngram import CATEGORIES, NgramScores


def scores(**given: float) -> dict[str, float]:
    rest = 1.0 - sum(given.values())
    return {c: given.get(c, 0.0) for c in CATEGORIES if c != "none"} | {"none": rest}


@dataclass(frozen=True)
class Fixed:
    """A stage answering the given scores for each text, in order."""

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


def test_hate_just_under_the_band_goes_to_the_semantic_stage_other_categories_do_not() -> None:
    edge = CATEGORY_LOWER_EDGES["hate_speech"]
    assert edge < UNSURE[0]
    first = {
        "faint hate": scores(hate_speech=edge),
        "fainter hate": scores(hate_speech=edge / 2),
        "faint piracy": scores(piracy=edge),
        "in the band": scores(weapons=UNSURE[0]),
        "plainly hate": scores(hate_speech=UNSURE[1]),
    }
    second = {text: scores(hate_speech=0.6) for text in first}
    results = Cascade(Fixed(first, "first"), Fixed(second, "semantic")).classify(list(first))
    stages = {text: result.stage for text, result in zip(first, results, strict=True)}
    assert stages == {
        "faint hate": "semantic",
        "fainter hate": "first",
        "faint piracy": "first",
        "in the band": "semantic",
        "plainly hate": "first",
    }
    # Sent on, the answer is still the mean of both stages.
    assert abs(results[0].scores["hate_speech"] - (edge + 0.6) / 2) < 1e-3

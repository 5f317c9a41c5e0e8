"""Statement-of-reasons presets (``data/reason_presets.json``): per policy category for
restricting decisions, and under ``no_violation`` for decisions that restrict nothing, each
in English and French. The moderator picks one and may edit it; an unedited preset is sent
to the owner in the owner's language where Rempart knows it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rempart.moderation.exceptions import PresetMismatch, UnknownPreset

LANGUAGES = ("en", "fr")
NO_VIOLATION = "no_violation"


@dataclass(frozen=True)
class Preset:
    key: str
    group: str  # a policy category, or no_violation
    texts: dict[str, str]


@lru_cache(maxsize=1)
def all_presets() -> dict[str, Preset]:
    text = resources.files("rempart.moderation").joinpath("data/reason_presets.json")
    loaded = json.loads(text.read_text("utf-8"))["presets"]
    return {
        key: Preset(key=key, group=group, texts={lang: texts[lang] for lang in LANGUAGES})
        for group, presets in loaded.items()
        for key, texts in presets.items()
    }


def by_group() -> dict[str, list[Preset]]:
    grouped: dict[str, list[Preset]] = {}
    for preset in all_presets().values():
        grouped.setdefault(preset.group, []).append(preset)
    return grouped


def check(key: str, *, category: str, restricting: bool) -> Preset:
    """The preset, if it fits the decision: a category's preset for a restricting decision
    in that category, a ``no_violation`` one for a decision that restricts nothing. A
    mismatch would tell the owner and the reporters the wrong reason."""
    preset = all_presets().get(key)
    if preset is None:
        raise UnknownPreset("No statement-of-reasons preset has this name.")
    expected = category if restricting else NO_VIOLATION
    if preset.group != expected:
        raise PresetMismatch(
            "This preset is for another category or action; choose one for this decision."
        )
    return preset


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def in_language(key: str | None, explanation: str, language: str | None) -> str:
    """The explanation as ``language`` reads it: the preset's own text in that language if
    the moderator left the preset unedited (in whichever language they saw it), else the
    moderator's words as they wrote them."""
    preset = all_presets().get(key) if key else None
    lang = (language or "")[:2].lower()
    if preset is None or lang not in LANGUAGES:
        return explanation
    if any(_same(explanation, text) for text in preset.texts.values()):
        return preset.texts[lang]
    return explanation

"""The console's and public pages' words, in English and French (``data/messages.json``)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import Request

LANGUAGES = ("en", "fr")


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    text = resources.files("rempart.web").joinpath("data/messages.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def category_labels() -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = _catalog()["categories"]
    return labels


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    accepted = request.headers.get("accept-language", "")
    return "fr" if accepted.lower().startswith("fr") else "en"


def translator(lang: str) -> dict[str, str]:
    return {key: texts[lang] for key, texts in _catalog()["messages"].items()}

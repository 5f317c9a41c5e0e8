"""An optional second opinion from a policy-reasoning safety model that the operator
serves behind an OpenAI-compatible API (`/chat/completions`). Off by default; when
configured, only the items the earlier stages are unsure of are sent, one request each
(see ``cascade.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from rempart.core.errors import RempartError
from rempart.moderation.ngram import CATEGORIES, NgramScores

PROMPT = (
    "You assist the trust-and-safety team of a messaging platform. Classify the public post "
    "the user sends into exactly one of these policy categories: "
    + ", ".join(CATEGORIES)
    + '. Answer with JSON only: {"category": "<one of them>", "confidence": <0 to 1>}. '
    "News, prevention, legal offers and discussion of a topic are `none`."
)


class RemoteClassifierError(RempartError):
    status_code = 502
    code = "remote_classifier_failed"


@dataclass(frozen=True)
class RemoteClassifier:
    base_url: str
    model: str
    token: str | None = None
    timeout: float = 10.0

    @property
    def model_version(self) -> str:
        return f"remote:{self.model}"

    def _ask(self, client: httpx.Client, text: str) -> NgramScores:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = client.post(
                self.base_url.rstrip("/") + "/chat/completions",
                headers=headers,
                json={
                    "model": self.model,
                    "temperature": 0,
                    "response_format": {"type": "json_object"},
                    "messages": [
                        {"role": "system", "content": PROMPT},
                        {"role": "user", "content": text[:4000]},
                    ],
                },
            )
            response.raise_for_status()
            answer = json.loads(response.json()["choices"][0]["message"]["content"])
            category = str(answer["category"])
            confidence = min(max(float(answer["confidence"]), 0.0), 1.0)
        except httpx.HTTPError as exc:
            raise RemoteClassifierError(
                f"The remote classifier did not answer ({type(exc).__name__})."
            ) from exc
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RemoteClassifierError("The remote classifier's answer is not usable.") from exc
        if category not in CATEGORIES:
            raise RemoteClassifierError("The remote classifier named an unknown category.")
        scores = dict.fromkeys(CATEGORIES, 0.0)
        scores[category] = confidence
        if category != "none":
            scores["none"] = round(1 - confidence, 4)
        return NgramScores(
            scores=scores, top=category, stage="remote", model_version=self.model_version
        )

    def classify(self, texts: Sequence[str]) -> list[NgramScores]:
        with httpx.Client(timeout=self.timeout) as client:
            return [self._ask(client, text) for text in texts]

"""The training text written for the classifiers stays apart from the hand-written evaluation
set: a model that trained on the posts it is measured on would report memory as quality."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
HANDWRITTEN = ROOT / "bench" / "data" / "handwritten_eval.jsonl"
SHINGLE = 5


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def shingles(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}


def test_no_written_post_shares_five_words_in_a_row_with_an_evaluation_post() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_ngram

    written = set()
    for posts in train_ngram.written_posts():
        for post in posts["posts"]:
            slot = re.search(r"\{(\w+)\}", post)
            values = train_ngram.SLOTS[slot.group(1)] if slot else [""]
            written |= {re.sub(r"\{\w+\}", value, post) for value in values}
    evaluation = [
        json.loads(line)["text"] for line in HANDWRITTEN.read_text("utf-8").splitlines() if line
    ]
    seen = set().union(*(shingles(t) for t in evaluation))
    shared = {text for text in written if shingles(text) & seen}
    assert not shared, sorted(shared)[:5]


def test_written_posts_are_in_training_with_every_fifth_held_out() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_ngram

    lists = train_ngram.written_posts()
    train, held_out = train_ngram.synthetic(random.Random(2026), 1)
    without_train, without_held = train_ngram.synthetic(random.Random(2026), 1, written=False)
    assert train[: len(without_train)] == without_train
    added = train[len(without_train) :]
    posts = sum(len(posts["posts"]) for posts in lists)
    held = sum(len(posts["posts"][4::5]) for posts in lists)
    assert len(held_out) - len(without_held) >= held
    assert len(added) >= posts - held
    assert {label for _, label in added} == {"hate_speech", "none"}

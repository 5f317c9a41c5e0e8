"""Throughput of the first-stage classifier on 30-word posts.

.venv/bin/python bench/classify_ngram.py --posts 5000
"""

from __future__ import annotations

import argparse
import os
import random
import time

from rempart.moderation.ngram import load_default

WORDS = (
    "vends livraison dispo prix marché concert recette quartier match équipe train musique "
    "selling delivery available price market concert recipe team music film weekend link "
    "gratuit free stream lien contact message demain today ville city photo café coffee"
).split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(1)
    posts = [" ".join(rng.choices(WORDS, k=30)) for _ in range(args.posts)]
    model = load_default()
    model.classify(posts[:10])
    started = time.perf_counter()
    for start in range(0, len(posts), 500):
        model.classify(posts[start : start + 500])
    elapsed = time.perf_counter() - started
    print(f"first stage: {len(posts) / elapsed:,.0f} posts/s of 30 words (one core)")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

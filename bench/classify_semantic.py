"""Throughput of the classifier's semantic stage on 30-word posts, and of the cascade.

.venv/bin/python bench/classify_semantic.py --posts 1000

Prints posts/s for:
- the semantic stage on posts that are all different (every post is embedded);
- the same on a stream where a share of posts belongs to campaigns that repeat one text
  with other prices, phone numbers or links (the cache embeds each campaign once);
- the whole cascade (first stage on every post, semantic stage on the unsure ones).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence

from rempart.moderation import ngram, semantic
from rempart.moderation.cascade import Cascade, unsure

WORDS = (
    "vends livraison dispo prix marché concert recette quartier match équipe train musique "
    "selling delivery available price market concert recipe team music film weekend link "
    "gratuit free stream lien contact message demain today ville city photo café coffee "
    "beuh weed glock pistolet iptv abonnement crypto bitcoin gagné winner adresse address"
).split()


def posts(rng: random.Random, count: int, campaign_share: float) -> list[str]:
    campaigns = [" ".join(rng.choices(WORDS, k=27)) for _ in range(20)]
    out = []
    for _ in range(count):
        if rng.random() < campaign_share:
            price, phone = rng.randint(10, 999), rng.randint(10**8, 10**9 - 1)
            link = f"https://t.example/{rng.randint(1000, 9999)}"
            out.append(f"{rng.choice(campaigns)} {price}€ +61491{phone % 1000:03d} {link}")
        else:
            out.append(" ".join(rng.choices(WORDS, k=30)))
    return out


def rate(classify: Callable[[Sequence[str]], object], texts: list[str], chunk: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        classify(texts[start : start + chunk])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(7)
    first = ngram.load_default()
    model = semantic.load_default()
    embedder = model.embedder
    assert isinstance(embedder, semantic.E5Embedder)
    print(f"model: {embedder.name}")
    model.classify(["warm up"] * 4)
    for share in (0.0, 0.5, 0.8):
        texts = posts(rng, args.posts, share)
        embedder.clear()
        print(
            f"semantic stage, {share:.0%} campaign posts: "
            f"{rate(model.classify, texts, 200):,.0f} posts/s of 30 words"
        )
    texts = posts(rng, args.posts * 5, 0.0)
    share = sum(unsure(r) for r in first.classify(texts)) / len(texts)
    embedder.clear()
    cascade = Cascade(first, model)
    print(
        f"cascade, all posts different ({share:.0%} unsure, sent to the semantic stage): "
        f"{rate(cascade.classify, texts, 2000):,.0f} posts/s"
    )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

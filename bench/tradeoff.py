"""The layers × AUPRC × posts/s trade-off of the text classifier, on two cores.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/tradeoff.py --data ../shared/data \
        [--posts 1000] [--layers 4 12]

Layer: the classifier objects as the worker calls them (``cascade.Cascade`` of the first
stage and the semantic stage; "shipped" is the worker's own, ``tasks.classifier_for``: 4
layers, and 12 on what the first stage half suspects), no database. Two processes, one per
core, each classify half of ``--posts`` ordinary 30-word posts, all different (windows of
consecutive SMS ham words, as ``rescan_speed.py``: no embedding cache hit). Prints wall
posts/s of the two together at the machine's load (reported) and posts per CPU-second of
the two, beside the AUPRC the model card gives for each choice (measured by
``cross_source_eval.py``, not here). The 12-layer speed is measured with the 4-layer heads:
the stage's cost is the encoder's, the share sent to it is the first stage's, so the heads
do not change the speed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cross_source_eval import handwritten  # noqa: E402
from rescan_speed import ordinary_posts  # noqa: E402

# From docs/model-card.md and docs/benchmarks.md ("Layers × AUPRC × speed", 2026-12-06/07):
# hand-written AUPRC, mean of 18 rows (lowest row), and the darknet shops; "equal data"
# is heads trained on the same 900 texts for both layer counts. Update with the model card.
AUPRC = {
    "first stage": "0.74 (0.50) / 0.91 (ngram-v2)",
    "cascade, 4 layers": "0.87 (0.78) / 0.95 (v3, shipped until semantic12-v1)",
    "cascade, 12 layers": "0.87 (0.67) / 0.93 at equal data",
    "shipped: 4 layers, 12 from 0.1": "0.87 (0.76) / 0.90 (semantic12-v1)",
}
SHIPPED = -1


def _classify(layers: int, texts: list[str], queue: multiprocessing.Queue[float], go: Any) -> None:
    from rempart.moderation import ngram, semantic, tasks
    from rempart.moderation.cascade import Cascade

    first = ngram.load_default()
    if layers == SHIPPED:
        model: object = tasks.classifier_for(True, None, "", None, 5.0)
        model.classify(["warm up", "ils devraient tous partir, ces gens-là"])  # type: ignore[attr-defined]
    elif layers:
        shipped = semantic.load_default()
        second = semantic.SemanticClassifier(
            semantic.E5Embedder(layers=layers),
            shipped.weights,
            shipped.bias,
            shipped.categories,
            shipped.version,
        )
        model = Cascade(first, second)
        second.classify(["warm up"])
    else:
        model = first
    first.classify(["warm up"])
    queue.put(time.monotonic())  # loaded
    go.wait()  # every process starts together, once all are loaded
    cpu = time.process_time()
    for start in range(0, len(texts), 50):  # a rescan job's range
        model.classify(texts[start : start + 50])  # type: ignore[attr-defined]
    queue.put(time.process_time() - cpu)
    sent = 0
    for start in range(0, len(texts), 50):  # the share sent on, outside the timing
        results = model.classify(texts[start : start + 50])  # type: ignore[attr-defined]
        sent += sum(1 for r in results if r.stage != "first")
    queue.put(sent / len(texts))


def measure(layers: int, texts: list[str], processes: int) -> tuple[float, float, float]:
    """(wall posts/s of the processes together, posts per CPU-second, share of the posts
    the semantic stage answered)."""
    context = multiprocessing.get_context("spawn")
    queues = [context.Queue() for _ in range(processes)]
    go = context.Event()
    shares = [texts[k::processes] for k in range(processes)]
    workers = [
        context.Process(target=_classify, args=(layers, share, queue, go))
        for share, queue in zip(shares, queues, strict=True)
    ]
    for worker in workers:
        worker.start()
    for queue in queues:
        queue.get()  # loaded: model loading is not timed
    started = time.monotonic()
    go.set()
    cpu = [queue.get() for queue in queues]
    wall = time.monotonic() - started  # until the last process is done
    sent = [queue.get() for queue in queues]
    for worker in workers:
        worker.join()
    return len(texts) / wall, len(texts) / sum(cpu), sum(sent) / len(sent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--layers", type=int, nargs="*", default=[4, 12])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--offence-like",
        action="store_true",
        help="posts of words drawn from the hand-written set (a raid's traffic), not ordinary",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.offence_like:
        rng = random.Random(11)
        vocabulary = " ".join(i.text for i in handwritten()).split()
        texts = [" ".join(rng.choices(vocabulary, k=30)) for _ in range(args.posts)]
    else:
        # Spread over the whole SMS corpus (windows far apart), not its first pages only.
        texts = ordinary_posts(args.data, 20 * args.posts)[::20][: args.posts]
    rows = [("first stage", 0)] + [(f"cascade, {n} layers", n) for n in args.layers]
    rows.append(("shipped: 4 layers, 12 from 0.1", SHIPPED))
    load_before = os.getloadavg()[0]
    print(
        f"{args.posts} {'offence-like' if args.offence_like else 'ordinary'} 30-word posts, "
        f"all different; {args.processes} processes, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; load before {load_before:.1f}\n"
    )
    print(
        "| model | AUPRC hand-written mean (lowest) / darknet shops | "
        f"posts/s wall, {args.processes} processes at this load | posts per CPU-second | "
        f"{args.processes} idle cores at the CPU rate (inferred) | sent to the semantic stage |"
    )
    print("|---|---|---|---|---|---|")
    for name, layers in rows:
        # The first stage is too quick to time on --posts alone: it gets 20 times as many.
        sample = texts * 20 if layers == 0 else texts
        wall, per_cpu, sent = measure(layers, sample, args.processes)
        print(
            f"| {name} | {AUPRC.get(name, 'not measured')} | {wall:,.1f} | {per_cpu:,.1f} | "
            f"{per_cpu * args.processes:,.0f} | {sent:.0%} |",
            flush=True,
        )
    print(f"\nload after {os.getloadavg()[0]:.1f} (`uptime` 1-minute average)")


if __name__ == "__main__":
    main()

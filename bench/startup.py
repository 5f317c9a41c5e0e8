"""Process start-up: the CPU a fresh process spends importing the app and the CLI, and how
long `make demo` takes to answer on a (possibly busy) machine.

    .venv/bin/python bench/startup.py [--runs 5] [--baseline-src DIR] [--demo-clone DIR]

Each import is measured in a fresh interpreter as user + system CPU of the whole process
(interpreter start included), ``--runs`` times; the minimum and the median are printed, the
minimum being the one least disturbed by other processes. ``floor`` imports only what
every request needs from the libraries (FastAPI, Starlette's static files, SQLAlchemy's
ORM, pydantic and its settings, Jinja2, the AEAD cipher, email-validator). With
``--baseline-src`` the same imports are measured from another source tree (for example a
`git archive` of main) for comparison. With ``--demo-clone``, `make demo` is started in
that clone (its .venv installed beforehand, its var/ removed) and the seconds until
``/healthz`` and ``/console/login`` answer 200 are printed; the demo is then stopped.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

IMPORTS = {
    "import rempart.app": "import rempart.app",
    "create_app()": (
        "import rempart.app\n"
        "from rempart.core.settings import Settings\n"
        "rempart.app.create_app(Settings(database_url='sqlite:///:memory:', demo=True,"
        " key_file={key_file!r}))"
    ),
    "import rempart.cli": "import rempart.cli",
    "floor": (
        "import fastapi, fastapi.staticfiles, fastapi.openapi.utils, sqlalchemy.orm,"
        " pydantic, pydantic_settings, jinja2, email_validator,"
        " cryptography.hazmat.primitives.ciphers.aead"
    ),
}


def cpu_of(code: str, env: dict[str, str]) -> float:
    """User + system CPU seconds of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def key_file(directory: Path) -> Path:
    from rempart.core import crypto

    path = directory / "keys.json"
    crypto.write_key_file(path, crypto.KeyRing.generate(demo=True))
    return path


def measure_imports(runs: int, baseline: Path | None, keys: Path) -> None:
    trees: list[tuple[str, dict[str, str]]] = [("this tree", dict(os.environ))]
    if baseline is not None:
        trees.append(("baseline", {**os.environ, "PYTHONPATH": str(baseline)}))
    samples: dict[tuple[str, str], list[float]] = {}
    # Interleaved, so that a change of load hits every figure alike.
    for _ in range(runs):
        for tree, env in trees:
            for name, code in IMPORTS.items():
                if name == "floor" and tree == "baseline":
                    continue
                cpu = cpu_of(code.format(key_file=str(keys)), env)
                samples.setdefault((tree, name), []).append(cpu)
    print(f"CPU seconds (user + system) of a fresh process, {runs} runs: min / median")
    for (tree, name), values in samples.items():
        print(f"  {tree:<10} {name:<18} {min(values):.2f} / {statistics.median(values):.2f}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def measure_demo(clone: Path, timeout: float) -> None:
    shutil.rmtree(clone / "var", ignore_errors=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"make demo PORT={port} in {clone}; load at start {os.getloadavg()[0]:.1f}")
    log = (clone / "bench-startup-demo.log").open("wb")
    started = time.monotonic()
    demo = subprocess.Popen(
        ["make", "demo", f"PORT={port}"],
        cwd=clone,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    found: dict[str, float] = {}
    try:
        while time.monotonic() - started < timeout and len(found) < 2:
            for path in ("/healthz", "/console/login"):
                if path not in found and (path == "/healthz" or found) and answers(base + path):
                    found[path] = time.monotonic() - started
            if demo.poll() is not None:
                break
            time.sleep(0.25)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        log.close()
    for path in ("/healthz", "/console/login"):
        seconds = f"{found[path]:.1f} s" if path in found else f"not within {timeout:.0f} s"
        print(f"  {path:<15} answered after {seconds}")
    print(f"  load at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--demo-clone", type=Path, default=None)
    parser.add_argument("--demo-timeout", type=float, default=600.0)
    parser.add_argument("--skip-imports", action="store_true")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    if not args.skip_imports:
        with tempfile.TemporaryDirectory() as directory:
            measure_imports(args.runs, args.baseline_src, key_file(Path(directory)))
    if args.demo_clone is not None:
        measure_demo(args.demo_clone, args.demo_timeout)


if __name__ == "__main__":
    main()

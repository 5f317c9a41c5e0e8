"""Rempart's commands as real processes on 127.0.0.1, and what the tests that run them
need: free ports, waiting for health, killing a process group, and a probe for a write
transaction held by another process."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from rempart.core.db import is_sqlite, normalise_url


def rempart_command() -> list[str]:
    script = Path(sys.executable).with_name("rempart")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rempart.cli"]


def passed_through() -> dict[str, str]:
    # PYTHONPATH too, so that the processes run the code under test wherever it lies.
    return {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash of the machine or container would:
        with several web workers, killing only their supervisor would leave them serving."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        assert self.popen.returncode == -signal.SIGKILL


@contextmanager
def running(args: list[str], env: dict[str, str], cwd: Path, name: str) -> Iterator[Process]:
    log = cwd / f"{name}.log"
    with log.open("ab") as sink:
        popen = subprocess.Popen(
            [*rempart_command(), *args],
            env={**env, **passed_through(), "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            # Its own process group, so that it and every process it spawns can be killed.
            start_new_session=True,
        )
    process = Process(popen, log)
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, process: Process
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.popen.poll() is not None:
            pytest.fail(
                f"{what}: the process exited ({process.popen.returncode})\n{process.output()}"
            )
        time.sleep(0.02)
    pytest.fail(f"{what}: timed out after {timeout} s\n{process.output()}")


def healthy(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


# -- a probe: is a write transaction open while the remote model is asked? ---------------


def write_lock_held(database_url: str) -> bool:
    """True when another connection holds a write transaction on the database right now."""
    if is_sqlite(database_url):
        path = database_url.split(":///", 1)[1]
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            connection.close()
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            writers = connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        return bool(writers)
    finally:
        engine.dispose()

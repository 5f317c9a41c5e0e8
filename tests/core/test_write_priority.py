"""On SQLite the worker's write transactions give way to a request's: a worker that
commits and begins again at once no longer starves the web processes, whose writers
sleep and poll in SQLite's busy handler (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from process_support import passed_through
from rempart.core.db import get_engine

pytestmark = pytest.mark.slow

# A worker writing back to back for four seconds, 50 ms per transaction.
BACKGROUND = """
import sys, time
from rempart.core.db import background_writes, get_engine
background_writes(float(sys.argv[2]))
engine = get_engine(sys.argv[1])
print("ready", flush=True)
deadline = time.monotonic() + 4
while time.monotonic() < deadline:
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO worker_rows VALUES (1)")
        time.sleep(0.05)
print("done", flush=True)
"""


def request_write_seconds(tmp_path: Path, yield_seconds: float) -> float:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = get_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE worker_rows (x INTEGER)")
        connection.exec_driver_sql("CREATE TABLE request_rows (x INTEGER)")
    worker = subprocess.Popen(
        [sys.executable, "-c", BACKGROUND, url, str(yield_seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=passed_through(),
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the worker is in its loop
        started = time.monotonic()
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO request_rows VALUES (1)")
        return time.monotonic() - started
    finally:
        worker.wait(timeout=60)
        engine.dispose()


def test_a_request_write_does_not_wait_out_the_workers_run(tmp_path: Path) -> None:
    # Without the courtesy the request waited until the loop ended (3.5 s here); with it,
    # about one of the worker's transactions, however loaded the machine.
    assert request_write_seconds(tmp_path, yield_seconds=1.0) < 1.5

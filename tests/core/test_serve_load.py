"""`rempart serve` with several web processes comes up on a machine whose CPUs are busy:
its supervisor does not kill children that are still importing the app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from process_support import free_port, healthy, running, wait_until
from rempart.core.db import is_sqlite

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """One spinning process per CPU for the length of the test."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_two_web_processes_start_while_the_cpus_are_busy(
    env: dict[str, str], database_url: str, tmp_path: Path, busy_cpus: None
) -> None:
    if not is_sqlite(database_url):
        pytest.skip("start-up does not depend on the database")
    port = free_port()
    with running(
        ["serve", "--port", str(port)], {**env, "REMPART_WEB_WORKERS": "2"}, tmp_path, "serve"
    ) as server:
        wait_until(healthy(port), timeout=300, what="server start", process=server)
        # Both children started once: none was killed for answering its health check late.
        wait_until(
            lambda: server.output().count("Application startup complete") >= 2,
            timeout=300,
            what="second web process",
            process=server,
        )
        assert "died" not in server.output()
        assert "not ready" not in server.output()
        # The access log names the client's network by its keyed hash, never its address.
        wait_until(
            lambda: re.search(r'net:[0-9a-f]{12} - "GET /healthz', server.output()) is not None,
            timeout=60,
            what="access log line",
            process=server,
        )
        assert not re.search(r'127\.0\.0\.1:\d+ - "', server.output())
        server.popen.send_signal(signal.SIGTERM)
        server.popen.wait(timeout=60)

"""How each web process of `rempart serve` builds its app: one process at a time.

uvicorn starts every web process at once, and each spends a second or more of CPU
importing the app. On a busy machine the processes of one session share that session's
CPU (the kernel's autogroups), so two processes importing side by side each took twice
as long, and the first answer came as late as the last. Here they take turns on a file
lock (the key file, which every process of the install reads): the first answers as soon
as it alone has started, and the second starts while the first already serves. This
module imports nothing of Rempart before the lock is held.
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

# Set by `rempart serve` for its web processes: the file they take turns on.
TURN_FILE = "REMPART_START_TURN_FILE"


def create_web_process_app() -> FastAPI:
    path = os.environ.get(TURN_FILE)
    descriptor = None
    if path:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            descriptor = None  # the app's own start-up says what is wrong with the file
    if descriptor is not None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        from rempart.app import create_worker_app

        return create_worker_app()
    finally:
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

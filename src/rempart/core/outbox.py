"""A local outbox: JSON lines appended to a file that the platform tails and delivers.
The default behind every notifier protocol, so Rempart works offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append_json_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as outbox:
        outbox.write(line)
        outbox.flush()
        os.fsync(outbox.fileno())


def append_json_lines(path: Path, records: list[dict[str, Any]]) -> None:
    """Several lines, in order, with one fsync: each fsync costs tens of milliseconds on a
    busy disk, and a transaction sending a batch of messages held its write lock for all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as outbox:
        outbox.write(text)
        outbox.flush()
        os.fsync(outbox.fileno())

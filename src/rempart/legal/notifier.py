"""How users hear that their data was disclosed. The platform wires its own channel behind
``Notifier``; the default writes to a local outbox file that the platform can tail."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class UserNotice:
    notification_id: int
    user_id: str
    order_reference: str
    text_en: str
    text_fr: str


class Notifier(Protocol):
    def send(self, notice: UserNotice) -> None: ...


class OutboxNotifier:
    """One JSON line per notice. A notice may appear twice after a crash between the write
    and the commit; ``notification_id`` lets the reader drop the repeat."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, notice: UserNotice) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(notice.__dict__, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as outbox:
            outbox.write(line)
            outbox.flush()
            os.fsync(outbox.fileno())

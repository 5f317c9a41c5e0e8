"""How users hear that their data was disclosed (or their content removed on an order), and
how an authority hears that its order to act was carried out. The platform wires its own
channel behind ``Notifier``; the default writes to a local outbox file that the platform
can tail."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from rempart.core.outbox import append_json_line


@dataclass(frozen=True)
class UserNotice:
    notification_id: int
    user_id: str
    order_reference: str
    text_en: str
    text_fr: str


@dataclass(frozen=True)
class AuthorityNotice:
    """DSA Art. 9(1), TCO Art. 3(3): the authority is told when and how its order was
    given effect. No personal data: the items as the order named them, and the actions."""

    order_reference: str
    authority: str
    contact: str | None
    outcome: str
    acted_at: str | None
    items: list[dict[str, str | None]]
    text_en: str


class Notifier(Protocol):
    def send(self, notice: UserNotice) -> None: ...

    def send_authority(self, notice: AuthorityNotice) -> None: ...


class OutboxNotifier:
    """One JSON line per notice. A notice may appear twice after a crash between the write
    and the commit; ``notification_id`` lets the reader drop the repeat."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, notice: UserNotice) -> None:
        append_json_line(self.path, {"type": "disclosure_notice", **asdict(notice)})

    def send_authority(self, notice: AuthorityNotice) -> None:
        append_json_line(self.path, {"type": "authority_notice", **asdict(notice)})

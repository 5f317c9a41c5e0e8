"""How users hear that their data was disclosed or their content removed on an order
(``Notifier``), how an authority hears that its order to act was carried out (also
``Notifier``), and how authorities hear of threats to life (``AuthorityNotifier``). The
platform wires its own channels behind them; the defaults write to local outbox files that
the platform can tail."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

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


@dataclass(frozen=True)
class ThreatToLifeNotice:
    """A notification the platform makes to an authority on its own initiative: the
    suspicion of a criminal offence involving a threat to the life or safety of persons
    (DSA Art. 18). ``body`` holds the information the article asks for, personal data
    included, so it is written only to the authority channel, never to the users' one."""

    reference: str
    recipient: str
    member_state: str | None
    body: dict[str, Any]


class AuthorityNotifier(Protocol):
    def notify_authority(self, notice: ThreatToLifeNotice) -> None: ...


class OutboxAuthorityNotifier:
    """One JSON line per notification, in a file of its own (mode 0600) that the
    platform's law-enforcement liaison forwards. A repeat after a crash between the write
    and the commit carries the same ``reference``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def notify_authority(self, notice: ThreatToLifeNotice) -> None:
        append_json_line(self.path, {"type": "dsa_art18_notification", **asdict(notice)})

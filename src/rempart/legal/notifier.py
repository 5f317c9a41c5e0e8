"""How users hear that their data was disclosed (``Notifier``), and how authorities hear
of threats to life (``AuthorityNotifier``). The platform wires its own channels behind
them; the defaults write to local outbox files that the platform can tail."""

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


class Notifier(Protocol):
    def send(self, notice: UserNotice) -> None: ...


class OutboxNotifier:
    """One JSON line per notice. A notice may appear twice after a crash between the write
    and the commit; ``notification_id`` lets the reader drop the repeat."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, notice: UserNotice) -> None:
        append_json_line(self.path, {"type": "disclosure_notice", **asdict(notice)})


@dataclass(frozen=True)
class AuthorityNotice:
    """A notification the platform makes to an authority on its own initiative: the
    suspicion of a criminal offence involving a threat to the life or safety of persons
    (DSA Art. 18). ``body`` holds the information the article asks for, personal data
    included, so it is written only to the authority channel, never to the users' one."""

    reference: str
    recipient: str
    member_state: str | None
    body: dict[str, Any]


class AuthorityNotifier(Protocol):
    def notify_authority(self, notice: AuthorityNotice) -> None: ...


class OutboxAuthorityNotifier:
    """One JSON line per notification, in a file of its own (mode 0600) that the
    platform's law-enforcement liaison forwards. A repeat after a crash between the write
    and the commit carries the same ``reference``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def notify_authority(self, notice: AuthorityNotice) -> None:
        append_json_line(self.path, {"type": "dsa_art18_notification", **asdict(notice)})

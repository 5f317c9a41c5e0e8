"""What users hear when their data was disclosed or their content removed on an order,
what an authority hears when its order to act was carried out, and what authorities hear
of threats to life. Each notice becomes a message for the runtime's notifier
(``rempart.core.notify``), sent through ``rempart.notify.service.send``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rempart.core.notify import Channel, Message


@dataclass(frozen=True)
class UserNotice:
    notification_id: int
    user_id: str
    order_reference: str
    text_en: str
    text_fr: str

    def message(self) -> Message:
        return Message(
            kind="disclosure_notice",
            key=f"legal-notification:{self.notification_id}",
            body=asdict(self),
        )


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

    def message(self) -> Message:
        return Message(
            kind="authority_notice", key=f"order-act:{self.order_reference}", body=asdict(self)
        )


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

    def message(self) -> Message:
        return Message(
            kind="dsa_art18_notification",
            key=f"escalation:{self.reference}",
            body=asdict(self),
            channel=Channel.AUTHORITY,
        )

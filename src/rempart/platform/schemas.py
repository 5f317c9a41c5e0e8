"""Typed platform events for ``POST /v1/ingest/events``.

Schemas are closed: an unknown field is refused, so private-message content cannot slip in
under a name we did not plan for. Error messages never contain submitted values.
"""

from __future__ import annotations

import base64
import binascii
import socket
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rempart.core.crypto import CANONICAL_IPV4
from rempart.core.validators import NoNul

MAX_BATCH_EVENTS = 5000
MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024
MAX_MEDIA_PER_POST = 20

# Event types a messaging platform might be tempted to forward but that carry private
# conversations. They are named so the refusal can say why, not just "unknown type".
PRIVATE_EVENT_PREFIXES = ("message.", "private_message.", "chat.", "dm.", "secret_chat.")


def normalise_phone(value: str) -> tuple[str, str | None]:
    """E.164 form and region of a phone number, parsing it once (ingest's hot path)."""
    import phonenumbers  # loaded with the first number, not when a web process starts

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError(
            "invalid_phone_number", "The phone number cannot be parsed; send it in E.164 form."
        ) from None
    region = phonenumbers.region_code_for_number(number)
    if region is None or not phonenumbers.is_valid_number_for_region(number, region):
        raise PydanticCustomError("invalid_phone_number", "The phone number is not a valid number.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Non-geographic numbers (+800, +882, +888 …) belong to region "001": no country.
    return e164, (region if len(region) == 2 else None)


# [0-9], not \d: Python's \d also matches non-ASCII digits ("١.1.1.1").


_IPV4_MAPPED = bytes(10) + b"\xff\xff"


def canonical_ip(value: str) -> str:
    """The one canonical text form of an address, used for storage and blind indexes."""
    if CANONICAL_IPV4.fullmatch(value):
        return value
    if ":" in value:
        try:
            packed = socket.inet_pton(socket.AF_INET6, value)
        except (OSError, ValueError):  # ValueError: NUL or non-ASCII characters
            raise PydanticCustomError(
                "invalid_ip_address", "The IP address is not valid."
            ) from None
        if packed[:12] == _IPV4_MAPPED:
            return socket.inet_ntop(socket.AF_INET, packed[12:])
        return socket.inet_ntop(socket.AF_INET6, packed)
    raise PydanticCustomError(
        "invalid_ip_address", "The IP address is not valid (IPv4 in dotted decimal, or IPv6)."
    )


def _decode_image(value: str) -> bytes:
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError(
            "invalid_base64", "The inline image is not valid base64."
        ) from None
    if len(data) > MAX_INLINE_IMAGE_BYTES:
        raise PydanticCustomError("image_too_large", "An inline image may hold at most 5 MB.")
    if not data:
        raise PydanticCustomError("image_empty", "The inline image is empty.")
    return data


# Dates a platform event can plausibly carry. Bounding them also keeps the conversion to
# UTC from overflowing (year 1 at +01:00, year 9999 at -01:00).
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=UTC)


def _event_time(value: datetime) -> datetime:
    try:
        moment: datetime | None = value.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST_EVENT <= moment < LATEST_EVENT:
        raise PydanticCustomError(
            "datetime_out_of_range", "The time must lie between 1970 and 2200 (UTC)."
        )
    return moment


EventTime = Annotated[AwareDatetime, AfterValidator(_event_time)]
EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
PlatformId = Annotated[str, StringConstraints(min_length=1, max_length=128), NoNul]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]
PhoneNumber = Annotated[str, StringConstraints(min_length=1, max_length=32)]
MAX_PHONES = 16
IPAddress = Annotated[str, StringConstraints(max_length=64), AfterValidator(canonical_ip)]
HexSha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]
HexMd5 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{32}$", to_lower=True)]
HexPdq = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]
InlineImage = Annotated[
    str,
    StringConstraints(max_length=(MAX_INLINE_IMAGE_BYTES * 4) // 3 + 4),
    AfterValidator(_decode_image),
]
# Private chats are refused: only what the platform publishes to everyone may come in.
PublicOnly = Literal["public"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId
    occurred_at: EventTime


class AccountEvent(_Event):
    """The account's full state after the event: a missing field means it has none."""

    type: Literal["account.registered", "account.updated"]
    user_id: PlatformId
    username: Username | None = None
    phone_number: PhoneNumber | None = None
    # Further numbers the account holds at the same time (a Matrix account may bind
    # several): every one of them is kept, ``phone_number`` first.
    phone_numbers: list[PhoneNumber] = Field(default_factory=list, max_length=MAX_PHONES)
    synthetic: bool = False

    _phone_country: str | None = PrivateAttr(default=None)
    _numbers: tuple[tuple[str, str | None], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _normalise_phone(self) -> AccountEvent:
        numbers: dict[str, str | None] = {}
        for value in ([self.phone_number] if self.phone_number is not None else []) + list(
            self.phone_numbers
        ):
            e164, country = normalise_phone(value)
            numbers.setdefault(e164, country)
        if numbers:
            # Frozen model: the normalised forms replace what the platform sent.
            first = next(iter(numbers))
            object.__setattr__(self, "phone_number", first)
            object.__setattr__(self, "phone_numbers", list(numbers)[1:])
            self._phone_country = numbers[first]
        self._numbers = tuple(numbers.items())
        return self

    @property
    def phone_country(self) -> str | None:
        return self._phone_country

    @property
    def numbers(self) -> tuple[tuple[str, str | None], ...]:
        """Every number the account holds after the event, with its region."""
        return self._numbers


class ConnectionSeen(_Event):
    type: Literal["connection.seen"]
    user_id: PlatformId
    ip: IPAddress
    port: int | None = Field(default=None, ge=0, le=65535)
    user_agent: Annotated[str, StringConstraints(max_length=512), NoNul] | None = None


class EntityEvent(_Event):
    type: Literal["entity.published", "entity.updated"]
    entity_id: PlatformId
    kind: Literal["channel", "group", "bot"]
    visibility: PublicOnly = "public"
    username: Username | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=256), NoNul]
    description: Annotated[str, StringConstraints(max_length=4096), NoNul] | None = None
    owner_user_id: PlatformId | None = None
    # The column is a 32-bit INTEGER on PostgreSQL.
    member_count: int | None = Field(default=None, ge=0, le=2**31 - 1)


class EntityDeleted(_Event):
    type: Literal["entity.deleted"]
    entity_id: PlatformId


class MediaIn(BaseModel):
    """Either hashes computed by the platform or the image itself, hashed later by the worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: HexSha256 | None = None
    md5: HexMd5 | None = None
    pdq: HexPdq | None = None
    pdq_quality: int | None = Field(default=None, ge=0, le=100)
    image_base64: InlineImage | None = None

    @model_validator(mode="after")
    def _something_given(self) -> MediaIn:
        if not (self.sha256 or self.md5 or self.pdq or self.image_base64):
            raise PydanticCustomError(
                "media_empty", "A media item needs a hash or the image itself."
            )
        return self


class PostEvent(_Event):
    type: Literal["post.published", "post.edited"]
    post_id: PlatformId
    entity_id: PlatformId
    # The member who wrote it, when that is not the entity's owner (a group's member).
    author_user_id: PlatformId | None = None
    visibility: PublicOnly = "public"
    text: Annotated[str, StringConstraints(max_length=16384), NoNul] | None = None
    language: (
        Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] | None
    ) = None
    media: list[MediaIn] = Field(default_factory=list, max_length=MAX_MEDIA_PER_POST)


class PostDeleted(_Event):
    type: Literal["post.deleted"]
    post_id: PlatformId


PlatformEvent = Annotated[
    AccountEvent | ConnectionSeen | EntityEvent | EntityDeleted | PostEvent | PostDeleted,
    Field(discriminator="type"),
]

EVENT_TYPES = (
    "account.registered",
    "account.updated",
    "connection.seen",
    "entity.published",
    "entity.updated",
    "entity.deleted",
    "post.published",
    "post.edited",
    "post.deleted",
)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: list[PlatformEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


event_batch_adapter: TypeAdapter[EventBatch] = TypeAdapter(EventBatch)


class ItemResult(BaseModel):
    index: int
    id: str
    status: Literal["stored", "duplicate"]


class IngestResult(BaseModel):
    batch_id: str
    stored: int
    duplicates: int
    items: list[ItemResult]


class ItemError(BaseModel):
    index: int | None
    field: str | None
    code: str
    message: str


def event_time(event: _Event) -> datetime:
    return event.occurred_at

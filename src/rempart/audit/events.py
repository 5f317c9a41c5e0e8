"""Typed audit events: what each domain records, one model per action.

An entry's ``details`` are the JSON form of its event, under the same keys the free
dicts used before, so existing logs read (and verify) unchanged. The transparency
figures are computed from some of these keys: declaring them here turns a renamed key
into a type error and a failing test instead of a published figure silently 0.

Personal data: no field of any event may hold a phone number or an IP address (the
guard in ``audit.personal`` refuses the entry); fields typed ``PersonRef`` name a person
by an internal identifier, and are pseudonymised before anything is published.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class _PersonRef:
    """Marks a field naming a person (an account, a reporter, a principal) by internal
    identifier: never a clear phone number or IP, and pseudonymised when published."""


PERSON_REF = _PersonRef()
PersonRef = Annotated[str, PERSON_REF]

# Every event class, by action: the reading side (figures, the dataset, timelines)
# parses entries with the same model that wrote them.
EVENTS: dict[str, type[AuditEvent]] = {}


class AuditEvent(BaseModel):
    """One audited action. Subclasses set ``action`` and declare the details' fields."""

    # A misspelt key fails when the event is built, not when a figure reads it; strict, so
    # that what a caller passes is what the entry holds (lax, True became 1).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    action: ClassVar[str]
    # Keys left out of the entry when their value is None (the free dicts only wrote
    # them when set); every other field is always written.
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        action = cls.__dict__.get("action")
        if isinstance(action, str):
            if action in EVENTS and EVENTS[action].__qualname__ != cls.__qualname__:
                raise TypeError(f"two audit events share the action {action!r}")
            EVENTS[action] = cls

    def details(self) -> dict[str, Any]:
        """The entry's ``details``: the fields' JSON form, under their names."""
        dumped = self.model_dump(mode="json", by_alias=True)
        return {
            key: value
            for key, value in dumped.items()
            if not (value is None and key in self.omitted_when_none)
        }


def person_fields(event: type[AuditEvent]) -> frozenset[str]:
    """The fields of ``event`` that name a person (``PersonRef``, or lists of them)."""
    found = set()
    for name, info in event.model_fields.items():
        if PERSON_REF in info.metadata or PERSON_REF in _nested_metadata(info.annotation):
            found.add(name)
    return frozenset(found)


def _nested_metadata(annotation: Any) -> list[Any]:
    metadata: list[Any] = list(getattr(annotation, "__metadata__", ()))
    for argument in getattr(annotation, "__args__", ()):
        metadata.extend(_nested_metadata(argument))
    return metadata


Event = TypeVar("Event", bound=AuditEvent)


def parse(action: str, details: dict[str, Any]) -> AuditEvent | None:
    """The typed event of an entry, or None for an action with no model (entries of
    actions since retired); raises ``pydantic.ValidationError`` on a malformed one."""
    model = EVENTS.get(action)
    return None if model is None else read_as(model, details)


def read_as(model: type[Event], details: dict[str, Any]) -> Event:
    """An entry's details read with the model that wrote them."""
    # Entries written by older versions may hold keys a model no longer declares.
    return model.model_validate({k: v for k, v in details.items() if k in entry_keys(model)})


def entry_keys(event: type[AuditEvent]) -> frozenset[str]:
    """The keys an event's details are written under (a field's alias, else its name)."""
    return frozenset(info.serialization_alias or name for name, info in event.model_fields.items())

"""From a request body to a validated batch, or a 422 that names each bad event.

Error messages describe the rule that failed, never the submitted value.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from rempart.core.errors import safe_location_part
from rempart.platform.exceptions import InvalidEvents, PrivateContentRefused
from rempart.platform.schemas import PRIVATE_EVENT_PREFIXES, EventBatch, event_batch_adapter


def _describe_error(error: Any) -> dict[str, Any]:
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
        # loc is ('events', i, '<type tag>', field, ...): the tag is noise for the caller.
        index: int | None = loc[1]
        field_path = [safe_location_part(p) for p in loc[3:]]
    else:
        index, field_path = None, [safe_location_part(p) for p in loc]
    kind = error["type"]
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", "")).strip().lower()
        if tag.startswith(PRIVATE_EVENT_PREFIXES):
            return _item(
                index,
                None,
                "private_content_refused",
                "Private conversations are never taken: Rempart holds no private-message content.",
            )
        return _item(
            index, "type", "unknown_event_type", "The event type is not one Rempart takes."
        )
    if kind == "union_tag_not_found":
        return _item(index, "type", "missing_event_type", "Every event needs a 'type'.")
    if kind == "literal_error" and field_path and field_path[-1] == "visibility":
        return _item(
            index,
            "visibility",
            "private_content_refused",
            "Only public entities and posts are taken; private chats are refused.",
        )
    if kind == "extra_forbidden":
        return _item(
            index, ".".join(field_path), "unknown_field", "This field is not part of the schema."
        )
    if kind == "json_invalid":
        return _item(None, None, "invalid_json", "The body is not valid JSON.")
    if kind == "invalid_phone_number":
        return _item(index, "phone_number", kind, str(error["msg"]))
    # Pydantic's own messages describe the rule, not the submitted value.
    return _item(index, ".".join(field_path) or None, kind, str(error["msg"]))


def _item(index: int | None, field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": message}


def parse_batch(body: bytes) -> EventBatch:
    try:
        return event_batch_adapter.validate_json(body)
    except ValidationError as exc:
        items = [_describe_error(e) for e in exc.errors(include_url=False, include_input=False)]
        if any(i["code"] == "invalid_json" for i in items):
            raise InvalidEvents(
                "The body is not valid JSON; nothing of it was stored.",
                code="invalid_json",
                items=items,
            ) from None
        if any(i["code"] == "private_content_refused" for i in items):
            raise PrivateContentRefused(
                "The batch carries private-message content; nothing of it was stored.", items=items
            ) from None
        raise InvalidEvents(
            "The batch was refused; nothing of it was stored.", items=items
        ) from None

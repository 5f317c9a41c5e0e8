"""Read schemas whose fields take a closed set of values declare them as enums, so that
the OpenAPI tells clients every value they must handle."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from rempart.auth.schemas import PrincipalRead
from rempart.hotline.schemas import HotlineReportRead
from rempart.moderation.queue import ITEM_STATES
from rempart.moderation.schemas import QueueItem


def enum_values(model: type[BaseModel], field: str) -> list[str]:
    schema = model.model_json_schema()
    prop: dict[str, Any] = schema["properties"][field]
    if "$ref" not in prop:
        raise AssertionError(f"{model.__name__}.{field} is not an enum: {prop}")
    return list(schema["$defs"][prop["$ref"].split("/")[-1]]["enum"])


@pytest.mark.parametrize(
    ("model", "field", "values"),
    [
        (QueueItem, "state", list(ITEM_STATES)),
        (QueueItem, "kind", ["post", "entity"]),
        (HotlineReportRead, "state", ["pending", "sent"]),
        (PrincipalRead, "status", ["enrolling", "active"]),
    ],
)
def test_closed_sets_of_values_are_enums_in_the_schema(
    model: type[BaseModel], field: str, values: list[str]
) -> None:
    assert enum_values(model, field) == values

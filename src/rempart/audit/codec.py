"""The exact bytes that get hashed and signed. Changing them breaks every existing log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rempart.core.clock import as_utc


def canonical_json(value: Any) -> bytes:
    # NaN and Infinity are not JSON: another implementation could not re-read the entry.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def entry_timestamp(moment: datetime) -> str:
    # The zone is converted, not assumed: the text says "Z" whatever clock produced it.
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

"""The seeded template of tests/conftest.py: a test that asks for ``seeded`` starts from the
demo, with the keys and signed heads that go with it, and whatever it changes, in the
database or in its files, no other test sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import ScheduleState
from rempart.demo.seed import SEEDED_MARK
from rempart.legal.models import Order

LEFT_BY_A_TEST = "left-by-a-seeded-test"


# Twice: whichever runs second would find what the first left, were the copy shared.
@pytest.mark.parametrize("attempt", ["first", "second"])
def test_each_seeded_test_starts_from_the_demo_and_leaves_nothing_behind(
    seeded: Callable[..., Any], runtime: Runtime, attempt: str
) -> None:
    with transaction(runtime.engine, readonly=True) as session:
        assert session.get(ScheduleState, SEEDED_MARK) is not None
        assert session.get(ScheduleState, LEFT_BY_A_TEST) is None
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() > 0
    head_file = runtime.settings.audit_head_file
    assert LEFT_BY_A_TEST not in head_file.read_text()
    # The keys and the heads signed with them came with the database.
    assert seeded("audit", "verify").exit_code == 0

    with transaction(runtime.engine) as session:
        session.add(ScheduleState(name=LEFT_BY_A_TEST, last_run_at=runtime.now()))
    with head_file.open("a") as heads:
        heads.write(f"{LEFT_BY_A_TEST}\n")

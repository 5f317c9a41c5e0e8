"""Statements of reasons for the DSA Transparency Database: exported in batches that pass
its validation rules, and submitted to a local server that applies them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import dsa_server
from process_support import write_lock_held
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation.models import StatementOfReasons
from rempart.transparency import dsa
from rempart.transparency.dsa_rules import validate


def _statements(runtime: Runtime) -> list[StatementOfReasons]:
    with transaction(runtime.engine, readonly=True) as session:
        return list(session.execute(select(StatementOfReasons)).scalars())


@pytest.mark.usefixtures("scanned")
def test_export_writes_batches_that_pass_the_rules(
    runtime: Runtime, cli: Callable[..., Any], tmp_path: Path
) -> None:
    made = _statements(runtime)
    assert made, "the scan restricts violating posts, each with a statement"
    result = cli("dsa", "export", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    files = sorted(tmp_path.glob("statements-*.json"))
    exported = [s for f in files for s in json.loads(f.read_text())["statements"]]
    assert len(exported) == len(made)
    assert all(len(json.loads(f.read_text())["statements"]) <= 100 for f in files)
    assert all(validate(s) == [] for s in exported)
    assert not any("source_identity" in s for s in exported)
    assert cli("dsa", "validate", str(files[0])).exit_code == 0

    broken = dict(exported[0])
    del broken["decision_visibility"]
    broken["content_date"] = "1999-12-31"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    refused = cli("dsa", "validate", str(bad))
    assert refused.exit_code == 1
    assert "decision types" in refused.stderr
    assert "content_date" in refused.stderr


@pytest.mark.usefixtures("scanned")
def test_submit_dedupes_retries_and_records_refusals(runtime: Runtime) -> None:
    made = _statements(runtime)
    assert len(made) >= 3
    sleeps: list[float] = []
    with dsa_server.running() as database:
        database.known.add(made[0].puid)  # sent by an earlier run that was cut off
        database.refuse.add(made[1].puid)
        database.failures_left = 2
        client = dsa.HttpDsaClient(database.url, dsa_server.TOKEN, sleep=sleeps.append)
        counts = dsa.submit(runtime.engine, client=client, now=runtime.now())
        assert counts == {"accepted": len(made) - 2, "already_known": 1, "refused": 1}
        assert sleeps == [1, 2]  # two 503s, then it went through
        assert database.known >= {s.puid for s in made} - {made[1].puid}
        after = {s.puid: s for s in _statements(runtime)}
        assert after[made[1].puid].dsa_submitted_at is None
        assert "Refused by the test database" in (after[made[1].puid].dsa_error or "")
        assert all(after[s.puid].dsa_submitted_at for s in made if s.puid != made[1].puid)

        posts = database.posts
        database.refuse.clear()
        again = dsa.submit(runtime.engine, client=client, now=runtime.now())
        assert again == {"accepted": 1, "already_known": 0, "refused": 0}
        assert database.posts == posts + 1


@pytest.mark.usefixtures("scanned")
def test_submit_holds_no_write_transaction_while_it_talks_to_the_database(
    runtime: Runtime, database_url: str
) -> None:
    """API writes must not wait on the Transparency Database's network round trips and
    retry sleeps: each request is made with no write transaction open."""
    made = _statements(runtime)
    assert made
    seen: list[bool] = []
    with dsa_server.running() as database:
        database.on_request = lambda: seen.append(write_lock_held(database_url))
        database.failures_left = 1
        client = dsa.HttpDsaClient(database.url, dsa_server.TOKEN, sleep=lambda _seconds: None)
        counts = dsa.submit(runtime.engine, client=client, now=runtime.now())
    assert counts["accepted"] == len(made)
    assert len(seen) > len(made)  # the look-ups, the failed post and the one that went through
    assert not any(seen)
    assert all(s.dsa_submitted_at for s in _statements(runtime))


@pytest.mark.usefixtures("scanned")
def test_the_client_is_chosen_in_settings_and_the_directory_client_never_sends_twice(
    runtime: Runtime, cli: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    made = _statements(runtime)
    assert made
    with_token = runtime.settings.model_copy(update={"dsa_token": dsa_server.TOKEN})
    assert isinstance(
        dsa.build_client(with_token, endpoint="http://127.0.0.1:9"), dsa.HttpDsaClient
    )
    unset = cli("dsa", "submit")
    assert unset.exit_code == 2
    assert "REMPART_DSA_CLIENT=directory" in unset.stderr

    folder = tmp_path / "dsa"
    local = {**env, "REMPART_DSA_CLIENT": "directory", "REMPART_DSA_DIRECTORY": str(folder)}
    result = cli("dsa", "submit", env=local)
    assert result.exit_code == 0, result.stderr
    assert f"{len(made)} accepted" in result.stdout
    files = sorted(folder.glob("statements-*.json"))
    written = [s for f in files for s in json.loads(f.read_text())["statements"]]
    assert sorted(s["puid"] for s in written) == sorted(s.puid for s in made)
    assert all(validate(s) == [] for s in written)
    assert all(s.dsa_submitted_at for s in _statements(runtime))

    # A run cut off after its files were written: the statements are known, not re-sent.
    with transaction(runtime.engine) as session:
        for statement in session.execute(select(StatementOfReasons)).scalars():
            statement.dsa_submitted_at = None
    again = cli("dsa", "submit", env=local)
    assert again.exit_code == 0, again.stderr
    assert f"0 accepted, {len(made)} already known" in again.stdout
    assert sorted(folder.glob("statements-*.json")) == files

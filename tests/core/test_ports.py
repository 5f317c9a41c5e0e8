"""Ports chosen in settings and held by the runtime (issue 16, point 2): each outside system's
implementation is named by a ``REMPART_*`` setting, built once by the runtime from the
factory registered under that name, and a name nobody registered stops the process at
start with a message naming the variable and the choices."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import rempart.subscriptions  # noqa: F401 - registers every port, as the entry points do
from process_support import rempart_command
from rempart.app import create_app
from rempart.core import crypto, ports
from rempart.core.deps import Runtime
from rempart.core.ports import UnknownChoice
from rempart.core.settings import Settings
from rempart.hotline import reporter
from rempart.hotline.schemas import CyberTiplineReport
from rempart.moderation import signal_types, tasks
from rempart.transparency import dsa


def _with(runtime: Runtime, **changes: Any) -> Runtime:
    settings = runtime.settings.model_copy(update=changes)
    return Runtime(settings=settings, engine=runtime.engine, keys=runtime.keys)


class PostedHotline:
    def submit(self, report: CyberTiplineReport) -> str:
        return f"posted:{report.reference}"


class ListedSources:
    def open(self, location: str, defaults: dict[str, str | None]) -> signal_types.HashBankSource:
        raise NotImplementedError


def test_the_defaults_work_offline(runtime: Runtime) -> None:
    assert isinstance(runtime.port(reporter.PORT), reporter.DirectoryHotline)
    # The database's API, which needs its endpoint and token: said when used.
    with pytest.raises(dsa.DsaNotConfigured):
        runtime.port(dsa.PORT)
    assert isinstance(runtime.port(signal_types.SOURCES), signal_types.CsvBankSources)
    # Built once per runtime.
    assert runtime.port(reporter.PORT) is runtime.port(reporter.PORT)


def test_a_setting_selects_each_implementation(runtime: Runtime, tmp_path: Path) -> None:
    directory = _with(runtime, dsa_client="directory", dsa_directory=tmp_path)
    assert isinstance(directory.port(dsa.PORT), dsa.DirectoryDsaClient)
    http = _with(runtime, dsa_client="http", dsa_endpoint="http://127.0.0.1:9", dsa_token="t")
    assert isinstance(http.port(dsa.PORT), dsa.HttpDsaClient)

    first = _with(runtime, classifier="first_stage", classifier_semantic=True)
    cascade = _with(runtime, classifier="cascade", classifier_semantic=True)
    assert type(first.port(tasks.CLASSIFIER)).__name__ != "Cascade"
    assert type(cascade.port(tasks.CLASSIFIER)).__name__ == "Cascade"

    # A platform's own implementation, registered as an entry point would.
    ports.register(reporter.PORT, "test-posted", lambda rt: PostedHotline())
    ports.register(signal_types.SOURCES, "test-listed", lambda rt: ListedSources())
    chosen = _with(runtime, hotline_reporter="test-posted", hash_bank_source="test-listed")
    assert isinstance(chosen.port(reporter.PORT), PostedHotline)
    assert isinstance(chosen.port(signal_types.SOURCES), ListedSources)


@pytest.mark.parametrize(
    "setting",
    ["hotline_reporter", "classifier", "dsa_client", "hash_bank_source", "platform"],
)
def test_an_unknown_implementation_is_refused_at_start(settings: Settings, setting: str) -> None:
    wrong = settings.model_copy(update={setting: "nonesuch"})
    if not settings.key_file.exists():
        crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    with pytest.raises(UnknownChoice) as refused:
        create_app(wrong)
    assert f"REMPART_{setting.upper()}='nonesuch'" in refused.value.message
    assert "choose one of" in refused.value.message


def test_the_cli_refuses_an_unknown_implementation_with_a_clear_message(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    crypto.write_key_file(key_file, crypto.KeyRing.generate())
    result = subprocess.run(
        [*rempart_command(), "dsa", "submit"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "REMPART_KEY_FILE": str(key_file),
            "REMPART_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
            "REMPART_CLASSIFIER": "nonesuch",
        },
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert "REMPART_CLASSIFIER='nonesuch'" in result.stderr
    assert "cascade" in result.stderr
    assert "Traceback" not in result.stderr

"""Start-up configuration: no key file, no service (outside demo mode); demo keys only in demo
mode; sane defaults."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from process_support import rempart_command
from rempart.app import create_app
from rempart.core import crypto
from rempart.core.errors import ConfigurationError
from rempart.core.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REMPART_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///var/rempart.db"
    assert settings.key_file == Path("var/keys.json")
    assert settings.audit_head_file.parent == Path("var")
    assert settings.ip_retention_days == 365
    assert settings.demo is False
    assert settings.host == "127.0.0.1"
    assert settings.job_lease_seconds == 300


def test_settings_come_from_rempart_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_IP_RETENTION_DAYS", "90")
    monkeypatch.setenv("REMPART_JOB_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("REMPART_DEMO", "1")
    settings = Settings()
    assert (settings.ip_retention_days, settings.job_lease_seconds, settings.demo) == (
        90,
        2.5,
        True,
    )


@pytest.mark.parametrize("days", ["0", "-5", "100000", "a year"])
def test_retention_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, days: str) -> None:
    monkeypatch.setenv("REMPART_IP_RETENTION_DAYS", days)
    with pytest.raises(ValidationError):
        Settings()


def test_app_refuses_to_start_without_a_key_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "keys.json"
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", key_file=missing)
    with pytest.raises(ConfigurationError, match="rempart keys init"):
        create_app(settings)
    assert not missing.exists(), "a key file must not be created outside demo mode"


def subprocess_env(tmp_path: Path, key_file: Path) -> dict[str, str]:
    return {
        "REMPART_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "REMPART_KEY_FILE": str(key_file),
        "REMPART_AUDIT_HEAD_FILE": str(tmp_path / "heads.jsonl"),
        "REMPART_DEMO": "0",
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.mark.slow
def test_serve_exits_with_a_clear_message_without_a_key_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-keys.json"
    process = subprocess.run(
        [*rempart_command(), "serve", "--port", "1"],
        env=subprocess_env(tmp_path, missing),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0
    assert "rempart keys init" in process.stderr
    assert "Traceback" not in process.stderr
    assert not missing.exists()


@pytest.mark.slow
def test_worker_refuses_to_start_without_a_key_file(tmp_path: Path) -> None:
    process = subprocess.run(
        [*rempart_command(), "worker", "--once"],
        env=subprocess_env(tmp_path, tmp_path / "none.json"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0
    assert "rempart keys init" in process.stderr


def test_demo_mode_creates_a_missing_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "demo" / "keys.json"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}", key_file=key_file, demo=True
    )
    create_app(settings)
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(key_file.read_text())["demo"] is True


def test_demo_keys_are_refused_outside_demo_mode(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    crypto.write_key_file(key_file, crypto.KeyRing.generate(demo=True))
    with pytest.raises(ConfigurationError, match="demo keys"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", key_file=key_file))


def test_demo_keys_are_refused_even_once_loaded_in_demo_mode(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    crypto.load_keyring(key_file, demo=True)  # created and cached
    with pytest.raises(ConfigurationError, match="rempart keys init"):
        crypto.load_keyring(key_file, demo=False)


def test_an_unreadable_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    key_file.write_text(json.dumps({"version": 1, "data_keys": []}))
    with pytest.raises(ConfigurationError, match="malformed"):
        crypto.load_keyring(key_file, demo=False)
    key_file.write_text("{not json")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        crypto.load_keyring(key_file, demo=True)


def test_a_matrix_homeserver_needs_an_admin_token(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="REMPART_MATRIX_ADMIN_TOKEN"):
        Settings(matrix_homeserver_url="http://127.0.0.1:8008")
    refused = subprocess.run(
        [*rempart_command(), "matrix", "sync"],
        capture_output=True,
        text=True,
        env={**os.environ, "REMPART_MATRIX_HOMESERVER_URL": "http://127.0.0.1:8008"},
        check=False,
    )
    assert refused.returncode == 2
    assert "invalid_settings" in refused.stderr
    assert "Traceback" not in refused.stderr
    key_file = tmp_path / "keys.json"
    crypto.write_key_file(key_file, crypto.KeyRing.generate())
    # Without a homeserver the command says what to set.
    result = subprocess.run(
        [*rempart_command(), "matrix", "sync"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "REMPART_KEY_FILE": str(key_file),
            "REMPART_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        },
        check=False,
    )
    assert result.returncode == 2
    assert "matrix_not_configured" in result.stderr
    assert "REMPART_MATRIX_HOMESERVER_URL" in result.stderr

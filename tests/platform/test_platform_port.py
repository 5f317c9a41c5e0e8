"""The platform-actions port: moderation, reports, hotline, legal and the console reach the
platform through it, never through the Matrix adapter, which is one implementation chosen
in settings."""

from __future__ import annotations

import ast
from pathlib import Path

from pydantic import SecretStr

from rempart.core.settings import Settings
from rempart.platform import actions

SOURCE = Path(__file__).resolve().parents[2] / "src" / "rempart"
THROUGH_THE_PORT = ["moderation", "reports", "web", "hotline", "legal", "escalations"]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_domains_do_not_import_the_matrix_adapter() -> None:
    offenders = [
        str(path.relative_to(SOURCE))
        for domain in THROUGH_THE_PORT
        for path in sorted((SOURCE / domain).rglob("*.py"))
        if any(name.startswith("rempart.platform.adapters") for name in _imports(path))
    ]
    assert offenders == []


def test_the_implementation_is_chosen_in_settings(settings: Settings) -> None:
    assert type(actions.for_settings(settings)) is actions.LocalPlatformActions
    matrix = settings.model_copy(
        update={
            "matrix_homeserver_url": "http://127.0.0.1:9",
            "matrix_admin_token": SecretStr("syt_admin"),
        }
    )
    assert type(actions.for_settings(matrix)) is actions.MatrixPlatformActions

"""The platform-actions port: moderation, reports, hotline, legal and the console reach the
platform through it, never through the Matrix adapter, which is one implementation chosen
in settings."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

import rempart.subscriptions  # noqa: F401 - registers the Matrix adapter, as entry points do
from factories import event, ingest, run_worker
from legal_support import MovableClock
from rempart.adapters.matrix.port import MatrixPlatformActions
from rempart.app import create_app
from rempart.auth.permissions import Role
from rempart.core.deps import Runtime
from rempart.core.ports import UnknownChoice
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationItem
from rempart.platform import actions
from rempart.platform.models import PlatformAction

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
        if any(name.startswith("rempart.adapters") for name in _imports(path))
    ]
    assert offenders == []


def test_the_implementation_is_chosen_in_settings_and_held_by_the_runtime(
    runtime: Runtime,
) -> None:
    assert type(runtime.port(actions.PORT)) is actions.LocalPlatformActions
    assert runtime.port(actions.PORT) is runtime.port(actions.PORT)
    homeserver = {
        "matrix_homeserver_url": "http://127.0.0.1:9",
        "matrix_admin_token": SecretStr("syt_admin"),
    }
    matrix = Runtime(
        settings=Settings(**{**runtime.settings.model_dump(), **homeserver, "platform": "matrix"}),
        engine=runtime.engine,
        keys=runtime.keys,
    )
    assert type(matrix.port(actions.PORT)) is MatrixPlatformActions
    # A homeserver configured without a choice acts on it, as before the setting existed.
    assert Settings(**homeserver).platform == "matrix"
    assert Settings(**homeserver, platform="local").platform == "local"


def test_an_unknown_or_unconfigured_platform_is_refused_at_start(runtime: Runtime) -> None:
    with pytest.raises(ValidationError, match="'local' or 'matrix'"):
        Settings(platform="ftp")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="platform_not_configured"):
        Settings(platform="matrix")
    # A choice no module registered (as if the Matrix adapter were not installed).
    unregistered = runtime.settings.model_copy(update={"platform": "carrier-pigeon"})
    with pytest.raises(UnknownChoice, match=r"REMPART_PLATFORM='carrier-pigeon'.*local"):
        Runtime(settings=unregistered, engine=runtime.engine, keys=runtime.keys)


def test_the_port_takes_plain_data() -> None:
    """The port's module knows nothing of moderation's or reports' tables."""
    imported = _imports(SOURCE / "platform" / "actions.py")
    assert not [n for n in imported if n.startswith(("rempart.moderation", "rempart.reports"))]


def test_a_decision_reaches_the_matrix_homeserver_through_the_port(
    settings: Settings, service_clock: MovableClock, make_token: Callable[[Role], str]
) -> None:
    """Without a homeserver to talk to: the decision plans the homeserver's action (the
    worker carries it out), from the plain data the port is given."""
    matrix = Settings(
        **{
            **settings.model_dump(),
            "matrix_homeserver_url": "http://127.0.0.1:9",
            "matrix_admin_token": SecretStr("syt_admin"),
            "platform": "matrix",
        }
    )
    app = create_app(matrix, clock=service_clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        ingest(
            client,
            {"Authorization": f"Bearer {make_token(Role.PLATFORM)}"},
            [
                event(
                    "m-room",
                    "entity.published",
                    entity_id="!room:example.org",
                    kind="group",
                    title="Bons plans",
                    owner_user_id="@seller:example.org",
                ),
                event(
                    "m-post",
                    "post.published",
                    post_id="$offer:example.org",
                    entity_id="!room:example.org",
                    text="Vends cocaïne pure, livraison discrète, paiement en crypto.",
                    language="fr",
                ),
            ],
        )
        rt: Runtime = app.state.runtime
        assert type(rt.port(actions.PORT)) is MatrixPlatformActions
        run_worker(rt)  # the scan makes the moderation items
        with rt.unit_of_work(readonly=True) as session:
            item = session.execute(
                select(ModerationItem).where(ModerationItem.ref == "$offer:example.org")
            ).scalar_one()
        decided = client.post(
            "/v1/moderation/decisions",
            json={
                "item_id": item.id,
                "version": item.version,
                "action": "remove_content",
                "category": "drug_sales",
                "explanation": "Sale of drugs.",
            },
            headers={"Authorization": f"Bearer {make_token(Role.MODERATOR)}"},
        )
        assert decided.status_code == 201, decided.text
        with rt.unit_of_work(readonly=True) as session:
            planned = session.execute(
                select(
                    PlatformAction.adapter, PlatformAction.action, PlatformAction.target_ref
                ).where(PlatformAction.item_id == item.id)
            ).all()
    assert ("matrix", "redact", "$offer:example.org") in [tuple(p) for p in planned]

"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL.

Each test gets a fresh database copied from a migrated template, so tests stay
independent and fast: a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL.
A test that asks for ``seeded`` gets a copy of a second template instead, the demo seeded
once per backend and per worker (a seed costs seconds of CPU, a copy a fraction of one),
with the key file, head file and outboxes the seed wrote beside it
(tests/core/test_seeded_template.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import write_guard
from legal_support import MovableClock
from rempart.app import create_app
from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.cli import app as cli_app
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings

POSTGRES_URL = os.environ.get(
    "REMPART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REMPART_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]

write_guard.install()

# The shared fixtures built from tests/factories.py (`scanned`, `legal_world`, ...).
pytest_plugins = ["factories"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "long_write(reason, up_to_ms=None): this test may hold a write transaction longer "
        "than the guard's bound (tests/write_guard.py); without up_to_ms, for any time",
    )


@pytest.fixture(autouse=True)
def short_write_transactions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test in which a write transaction held its lock longer than the bound."""
    marker = request.node.get_closest_marker("long_write")
    cpu_ms, wall_ms = write_guard.BOUND_MS, write_guard.WALL_BOUND_MS
    if marker is not None:
        if not marker.args or not str(marker.args[0]).strip():
            pytest.fail("@pytest.mark.long_write needs a reason")
        up_to = marker.kwargs.get("up_to_ms")
        cpu_ms = wall_ms = float("inf") if up_to is None else float(up_to)
    write_guard.RECORDER.clear()
    yield
    offenders = write_guard.too_long(write_guard.RECORDER.stop(), cpu_ms=cpu_ms, wall_ms=wall_ms)
    if offenders:
        pytest.fail(
            f"{len(offenders)} write transaction(s) held their lock longer than "
            f"{cpu_ms:.0f} ms of CPU or {wall_ms:.0f} ms (tests/write_guard.py):\n"
            + "\n".join(hold.describe() for hold in offenders[:5]),
            pytrace=False,
        )


def _admin_engine() -> sa.Engine:
    return sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )


def _postgres_available() -> bool:
    try:
        with _admin_engine().connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        return False
    return True


def _pg_url(name: str) -> str:
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    with write_guard.RECORDER.pause():
        upgrade(f"sqlite:///{path}")
    get_engine(f"sqlite:///{path}").dispose()
    return path


# The demo that the transparency tests read: small, with orders in every state.
DEMO_SIZES = ["--accounts", "60", "--connections", "300", "--entities", "6", "--posts", "80"]
SEEDED_FIXTURE = "seeded"


def _files_settings(database_url: str, folder: Path) -> Settings:
    """Settings whose files (keys, signed heads, outboxes, hotline reports) are in ``folder``."""
    return Settings(
        database_url=database_url,
        key_file=folder / "keys.json",
        audit_head_file=folder / "audit-heads.jsonl",
        notification_outbox=folder / "notifications-outbox.jsonl",
        authority_outbox=folder / "authority-outbox.jsonl",
        hotline_directory=folder / "hotline-reports",
        demo=False,
        # The semantic stage has its own tests (test_semantic_classifier.py); elsewhere
        # the first stage decides, which keeps scans fast and outcomes easy to reason about.
        classifier_semantic=False,
        # Tests that read the access log turn it on for their own app.
        access_log=False,
        # Fuzzers read the public endpoints thousands of times a minute from one address;
        # the limit has its own test.
        public_reads_per_minute=1_000_000,
    )


def _environment(settings: Settings) -> dict[str, str]:
    return {
        "REMPART_DATABASE_URL": settings.database_url,
        "REMPART_KEY_FILE": str(settings.key_file),
        "REMPART_AUDIT_HEAD_FILE": str(settings.audit_head_file),
        "REMPART_NOTIFICATION_OUTBOX": str(settings.notification_outbox),
        "REMPART_AUTHORITY_OUTBOX": str(settings.authority_outbox),
        "REMPART_HOTLINE_DIRECTORY": str(settings.hotline_directory),
        "REMPART_DEMO": "0",
        "REMPART_CLASSIFIER_SEMANTIC": "1" if settings.classifier_semantic else "0",
    }


def _seed_demo(database_url: str, folder: Path) -> None:
    """`rempart demo seed` into ``database_url``, its files in ``folder``, then every
    connection closed (PostgreSQL copies no database that someone is connected to)."""
    settings = _files_settings(database_url, folder)
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate())
    # Seeding is the set-up of the tests that use it, not a test's write transactions.
    with write_guard.RECORDER.pause():
        result = CliRunner().invoke(
            cli_app, ["demo", "seed", *DEMO_SIZES], env=_environment(settings)
        )
    assert result.exit_code == 0, result.output
    get_engine(database_url).dispose()
    get_engine(database_url, lock_timeout=settings.database_lock_timeout_seconds).dispose()


@pytest.fixture(scope="session")
def seeded_sqlite_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the seeded database, ``rempart.db``, and the files the seed wrote."""
    folder = tmp_path_factory.mktemp("seeded-template")
    shutil.copy(sqlite_template, folder / "rempart.db")
    _seed_demo(f"sqlite:///{folder / 'rempart.db'}", folder)
    return folder


@pytest.fixture(scope="session")
def seeded_postgres_template(
    postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The seeded database's name, and a folder with the files the seed wrote."""
    name = f"{postgres_template}_seeded"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    folder = tmp_path_factory.mktemp("seeded-template")
    _seed_demo(_pg_url(name), folder)
    yield name, folder
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _seeded_files(request: pytest.FixtureRequest, backend: str) -> Path | None:
    """The folder of the seeded template when the test asked for ``seeded``, else None."""
    if SEEDED_FIXTURE not in request.fixturenames:
        return None
    if backend == "sqlite":
        folder: Path = request.getfixturevalue("seeded_sqlite_template")
        return folder
    _name, folder = request.getfixturevalue("seeded_postgres_template")
    return folder


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    if not _postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"rempart_tpl_{worker_id}_{os.getpid()}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    with write_guard.RECORDER.pause():
        upgrade(_pg_url(name))
    get_engine(_pg_url(name)).dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    seeded = _seeded_files(request, request.param)
    if request.param == "sqlite":
        template: Path = (
            request.getfixturevalue("sqlite_template") if seeded is None else seeded / "rempart.db"
        )
        path = tmp_path / "rempart.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        get_engine(f"sqlite:///{path}").dispose()
        return
    template_name: str = (
        request.getfixturevalue("postgres_template")
        if seeded is None
        else request.getfixturevalue("seeded_postgres_template")[0]
    )
    name = f"rempart_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = _pg_url(name)
    yield url
    get_engine(url).dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    seeded = _seeded_files(request, backend)
    if seeded is None:
        crypto.write_key_file(tmp_path / "keys.json", crypto.KeyRing.generate())
    else:
        # The seeded database's keys and signed heads, each test with its own copy.
        shutil.copytree(
            seeded, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("rempart.db*")
        )
    return _files_settings(database_url, tmp_path)


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The same settings as environment variables, for the CLI and subprocesses."""
    values = _environment(settings)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def runtime(settings: Settings, service_clock: MovableClock) -> Runtime:
    keys = crypto.load_keyring(settings.key_file, demo=False)
    return Runtime(
        settings=settings,
        engine=get_engine(settings.database_url),
        keys=keys,
        clock=service_clock,
    )


@pytest.fixture
def client(settings: Settings, service_clock: MovableClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=service_clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_token(runtime: Runtime) -> Callable[[Role], str]:
    def make(role: Role, name: str | None = None) -> str:
        with transaction(runtime.engine) as session:
            created = auth.create_token(
                session,
                role=role,
                name=name or f"{role.value}-{uuid.uuid4().hex[:6]}",
                actor="test",
            )
        return created.token

    return make


@pytest.fixture
def platform_headers(make_token: Callable[[Role], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(Role.PLATFORM)}"}


@pytest.fixture
def seeded(cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """The CLI, on a copy of the seeded demo (``database_url`` sees this fixture asked for)."""
    return cli


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(env: dict[str, str], service_clock: MovableClock) -> Callable[..., CliResult]:
    runner = CliRunner()
    base_env = env

    def invoke(
        *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        result = runner.invoke(
            cli_app,
            list(args),
            input=input,
            env=env or base_env,
            catch_exceptions=False,
            obj={"clock": service_clock},
        )
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def service_clock() -> MovableClock:
    """The clock of the test's runtimes (``runtime``, ``client``, ``cli``): the time now,
    until the test moves it."""
    return MovableClock()


@pytest.fixture
def moved(service_clock: MovableClock) -> MovableClock:
    """The service clock, which the test moves forward to reach deadlines."""
    return service_clock

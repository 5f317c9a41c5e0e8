"""The Matrix connector against a real Synapse homeserver on loopback.

The homeserver (``synapse_server.py``) is installed in its own virtual environment and
started once per test process; each test creates its own users and rooms on it, syncs into
a fresh Rempart database (SQLite and PostgreSQL), and checks the homeserver through its own
client and admin APIs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from factories import make_login, sign_in
from images import random_png
from legal_support import approve, bearer, claims, register_authority, release, sign, submit
from rempart.adapters.matrix import actions
from rempart.adapters.matrix.client import HomeserverError, SynapseAdmin
from rempart.adapters.matrix.progress import cursors
from rempart.adapters.matrix.sync import sync
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.platform.models import (
    Account,
    Connection,
    Entity,
    IngestedEvent,
    PlatformAction,
    Post,
    PostMedia,
)
from rempart.reports.models import Report
from rempart.worker import Worker
from synapse_server import SERVER_NAME, Synapse

pytestmark = [pytest.mark.xdist_group("synapse"), pytest.mark.slow]

DRUG_OFFER = "Vends cocaïne et MDMA, livraison discrète 24/7, paiement crypto, écrivez-moi"
PRIVATE_TEXT = "Rendez-vous samedi chez Camille, ne le dis à personne"


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, synapse: Synapse) -> Settings:
    assert synapse.admin is not None
    return settings.model_copy(
        update={
            "matrix_homeserver_url": synapse.url,
            "matrix_admin_token": SecretStr(synapse.admin.token),
            "platform": "matrix",
        }
    )


@pytest.fixture
def env(env: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    assert settings.matrix_homeserver_url
    assert settings.matrix_admin_token
    extra = {
        "REMPART_MATRIX_HOMESERVER_URL": settings.matrix_homeserver_url,
        "REMPART_MATRIX_ADMIN_TOKEN": settings.matrix_admin_token.get_secret_value(),
    }
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    return {**env, **extra}


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class World:
    """One test's users and rooms on the shared homeserver."""

    def __init__(self, synapse: Synapse, octet: int) -> None:
        self.synapse = synapse
        self.owner = synapse.register(_name("owner"), ip=f"203.0.113.{octet}")
        self.member = synapse.register(_name("membre"), ip=f"198.51.100.{octet}")
        self.member_phone = f"61491570{octet:03d}"  # reserved for fiction
        synapse.set_msisdn(self.member, self.member_phone)
        self.room = synapse.create_room(
            self.owner,
            name=f"Entraide {octet}",
            alias=_name("entraide"),
            public=True,
            topic="Entraide entre voisins du quartier",
        )
        synapse.join(self.member, self.room)
        self.hello = synapse.send(self.owner, self.room, "Bonjour, la réunion est jeudi à 19 h")
        self.offer = synapse.send(self.member, self.room, DRUG_OFFER)
        self.private_room = synapse.create_room(
            self.owner, name="Famille", alias=None, public=False
        )
        self.private_message = synapse.send(self.owner, self.private_room, PRIVATE_TEXT)
        synapse.report(self.owner, self.room, self.offer, "vente de drogue dans ce salon")
        synapse.report(self.owner, self.private_room, self.private_message, "spam")


def _run_worker(runtime: Runtime) -> None:
    worker = Worker(runtime)
    while worker.tick():
        pass


def _decide(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    if "version" not in body:
        item = client.get(f"/v1/moderation/items/{body['item_id']}", headers=bearer(token))
        body["version"] = item.json()["item"]["version"]
    response = client.post("/v1/moderation/decisions", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _audited(runtime: Runtime, action: str) -> list[dict[str, Any]]:
    with transaction(runtime.engine, readonly=True) as session:
        bodies = session.execute(select(AuditEntry.body).where(AuditEntry.action == action))
        return [json.loads(body) for body in bodies.scalars()]


def _item(client: TestClient, token: str, ref: str) -> dict[str, Any]:
    queue = client.get("/v1/moderation/queue?limit=500", headers=bearer(token)).json()
    return next(i for i in queue["items"] if i["ref"] == ref)


def test_sync_brings_users_connections_public_rooms_their_messages_and_reports(
    synapse: Synapse,
    runtime: Runtime,
    client: TestClient,
    cli: Callable[..., Any],
    make_token: Callable[..., str],
    tmp_path: Path,
) -> None:
    world = World(synapse, 11)
    # A number that is not one: the account is kept, the number is not.
    odd = synapse.register(_name("odd"), ip="192.0.2.11")
    synapse.set_msisdn(odd, "33000")
    result = cli("matrix", "sync")
    assert result.exit_code == 0, result.stderr
    assert "Matrix sync" in result.stdout
    assert re.search(r"records refused\s*│\s*[1-9]", result.stdout)

    with transaction(runtime.engine, readonly=True) as session:
        member = session.execute(
            select(Account).where(Account.user_id == world.member.user_id)
        ).scalar_one()
        assert member.phone_country == "AU"
        odd_account = session.execute(
            select(Account).where(Account.user_id == odd.user_id)
        ).scalar_one()
        assert odd_account.phone_ciphertext is None
        # The phone number is held encrypted: its digits are nowhere in the row.
        assert member.phone_ciphertext
        assert world.member_phone.encode() not in member.phone_ciphertext
        addresses = {
            runtime.keys.decrypt(c.ip_ciphertext, purpose="ip")
            for c in session.execute(
                select(Connection).where(Connection.user_id == world.member.user_id)
            ).scalars()
        }
        assert world.member.ip in addresses
        room = session.execute(select(Entity).where(Entity.entity_id == world.room)).scalar_one()
        assert room.title == "Entraide 11"
        assert room.owner_user_id == world.owner.user_id
        posts = {
            p.post_id: p
            for p in session.execute(select(Post).where(Post.entity_id == world.room)).scalars()
        }
        assert set(posts) == {world.hello, world.offer}
        assert posts[world.offer].author_user_id == world.member.user_id
        # The private room and its content never reach Rempart.
        assert (
            session.execute(
                select(func.count()).select_from(Post).where(Post.text.contains("Camille"))
            ).scalar_one()
            == 0
        )
        assert (
            session.execute(
                select(func.count())
                .select_from(Entity)
                .where(Entity.entity_id == world.private_room)
            ).scalar_one()
            == 0
        )
        [report] = session.execute(select(Report).where(Report.target_ref == world.offer)).scalars()
        assert report.platform_user_id == world.owner.user_id
        assert report.category == "drug_sales"
        assert report.channel == "platform"
        assert (
            session.execute(
                select(func.count())
                .select_from(Report)
                .where(Report.target_ref == world.private_message)
            ).scalar_one()
            == 0
        )

    # A second sync finds nothing new; a new message is all the third one brings.
    homeserver = SynapseAdmin.from_settings(runtime.settings)
    again = sync(runtime, homeserver)
    assert (again.accounts, again.posts, again.reports, again.rooms) == (0, 0, 0, 0)
    later = synapse.send(world.owner, world.room, "Merci à toutes et à tous pour samedi")
    third = sync(runtime, homeserver)
    assert third.posts >= 1
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(select(Post).where(Post.post_id == later)).scalar_one()
    # Reports deleted on the homeserver do not hide the ones that come after them.
    for old_report in synapse.call("GET", "/_synapse/admin/v1/event_reports?dir=f")[
        "event_reports"
    ][:2]:
        synapse.call("DELETE", f"/_synapse/admin/v1/event_reports/{old_report['id']}")
    synapse.report(world.member, world.room, world.hello, "spam publicitaire répété")
    assert sync(runtime, homeserver).reports == 1
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(select(Report).where(Report.target_ref == world.hello)).scalar_one()

    # Images are fetched and hashed like any inline image, for the hash banks.
    png = random_png(8)
    photo = synapse.send_image(world.member, world.room, png)
    assert sync(runtime, SynapseAdmin.from_settings(runtime.settings)).posts == 1

    # The console has it: the offer waits for a moderator, the rest is searchable.
    _run_worker(runtime)
    with transaction(runtime.engine, readonly=True) as session:
        media = session.execute(select(PostMedia).where(PostMedia.post_id == photo)).scalar_one()
        assert media.sha256 == hashlib.sha256(png).hexdigest()
        assert media.pdq is not None
    moderator = make_token(Role.MODERATOR)
    item = _item(client, moderator, world.offer)
    assert item["state"] in ("restricted", "queued")
    hits = client.get("/v1/search", params={"q": "réunion jeudi", "lang": "fr"}).json()["items"]
    assert world.hello in {h["ref"] for h in hits}
    assert sign_in(client, make_login(runtime, "mx-moderator", Role.MODERATOR)).status_code == 303
    page = client.get(f"/console/moderation/items/{item['id']}")
    assert page.status_code == 200
    assert "Entraide 11" in page.text
    # The Matrix user's report is the item's case.
    assert "<td>1 from 1 (" in page.text

    # A room made invite-only is no longer public: out of search, and no longer read.
    synapse.make_invite_only(world.owner, world.room)
    closed = sync(runtime, SynapseAdmin.from_settings(runtime.settings))
    assert closed.rooms_gone == 1
    synapse.send(world.owner, world.room, "Maintenant entre nous seulement")
    assert sync(runtime, SynapseAdmin.from_settings(runtime.settings)).posts == 0
    _run_worker(runtime)
    hits = client.get("/v1/search", params={"q": "réunion jeudi", "lang": "fr"}).json()["items"]
    assert world.hello not in {h["ref"] for h in hits}


def test_decisions_become_homeserver_actions(
    synapse: Synapse,
    runtime: Runtime,
    client: TestClient,
    cli: Callable[..., Any],
    make_token: Callable[..., str],
) -> None:
    world = World(synapse, 12)
    shop = synapse.create_room(
        world.member,
        name="Pharmacie sans ordonnance",
        alias=_name("pharma"),
        public=True,
        topic="Vente de cocaïne, MDMA et kétamine, livraison 24/7, paiement crypto",
    )
    assert cli("matrix", "sync").exit_code == 0
    _run_worker(runtime)
    first, second = make_token(Role.MODERATOR), make_token(Role.MODERATOR)

    # Out of search: the room leaves the directory, as the client API shows.
    room_item = _item(client, first, shop)
    _decide(
        client,
        first,
        item_id=room_item["id"],
        action="remove_from_search",
        category="drug_sales",
        explanation="Salon de vente de stupéfiants.",
    )
    assert synapse.directory_visibility(shop) == "public"  # not before the worker acts
    assert cli("matrix", "act").exit_code == 0
    assert synapse.directory_visibility(shop) == "private"
    assert shop not in synapse.public_room_ids()
    # Reversed: back in the directory.
    _decide(
        client,
        second,
        item_id=room_item["id"],
        action="no_violation",
        category="none",
        explanation="Salon de prévention, pas de vente.",
    )
    assert actions.run_due(runtime, SynapseAdmin.from_settings(runtime.settings))["done"] == 1
    assert synapse.directory_visibility(shop) == "public"

    # Remove content: redaction waits until the decision is final.
    offer_item = _item(client, first, world.offer)
    decided = _decide(
        client,
        first,
        item_id=offer_item["id"],
        action="remove_content",
        category="drug_sales",
        explanation="Offre de vente de stupéfiants.",
    )
    _run_worker(runtime)
    assert synapse.event(world.owner, world.room, world.offer)["content"]["body"] == DRUG_OFFER
    # Moderators see, on the item, that the redaction waits for the decision to be final.
    assert sign_in(client, make_login(runtime, "mx-first", Role.MODERATOR)).status_code == 303
    page = client.get(f"/console/moderation/items/{offer_item['id']}").text
    assert re.search(r"<td>redact</td><td>pending</td><td>20\d\d-", page)
    with transaction(runtime.engine, readonly=True) as session:
        [redaction] = session.execute(
            select(PlatformAction).where(
                PlatformAction.target_ref == world.offer, PlatformAction.state == "pending"
            )
        ).scalars()
        assert redaction.action == "redact"
        assert redaction.due_at > datetime.now(UTC) + timedelta(days=150)
    # The author appeals through the platform; another moderator upholds: now it is final.
    platform = make_token(Role.PLATFORM)
    appealed = client.post(
        "/v1/appeals",
        json={
            "decision_id": decided["id"],
            "platform_user_id": world.member.user_id,
            "explanation": "Ce n'était qu'une blague entre amis.",
        },
        headers=bearer(platform),
    )
    assert appealed.status_code == 202, appealed.text
    appeal_item = _item(client, second, world.offer)
    _decide(
        client,
        second,
        item_id=appeal_item["id"],
        action="remove_content",
        category="drug_sales",
        explanation="L'offre est explicite ; décision maintenue.",
    )
    _run_worker(runtime)
    assert "body" not in synapse.event(world.owner, world.room, world.offer)["content"]

    # Suspend the author's account: Synapse's reversible suspension, not deactivation.
    _decide(
        client,
        second,
        item_id=appeal_item["id"],
        action="suspend_account",
        category="drug_sales",
        explanation="Ventes répétées de stupéfiants.",
        # The appeal's outcome stands: going further needs new facts, recorded.
        new_facts="Three more offers from this account in other rooms this week.",
    )
    _run_worker(runtime)
    user = synapse.call("GET", f"/_synapse/admin/v2/users/{world.member.user_id}")
    assert user["suspended"] is True
    assert user["deactivated"] is False
    assert user["threepids"][0]["address"] == world.member_phone

    done = {entry["target"] for entry in _audited(runtime, "platform.action_done")}
    assert {f"entity:{shop}", f"post:{world.offer}", f"account:{world.member.user_id}"} <= done


def test_failed_actions_are_retried_with_backoff_then_given_up(
    synapse: Synapse, runtime: Runtime
) -> None:
    now = datetime.now(UTC)
    with transaction(runtime.engine) as session:
        for ref in ("!unknown-room", f"@nobody-{uuid.uuid4().hex[:6]}:{SERVER_NAME}"):
            session.add(
                PlatformAction(
                    adapter="matrix",
                    action="directory_remove" if ref.startswith("!") else "suspend_user",
                    target_kind="entity" if ref.startswith("!") else "account",
                    target_ref=ref,
                    reason="test",
                    state="pending",
                    due_at=now,
                    attempts=0,
                    details={},
                    created_at=now,
                )
            )
    # The homeserver unreachable: retried later, not lost.
    down = SynapseAdmin("http://127.0.0.1:9", "token", timeout=2)
    assert actions.run_due(runtime, down)["retry"] == 2
    with transaction(runtime.engine, readonly=True) as session:
        pending = list(session.execute(select(PlatformAction)).scalars())
    assert all(a.state == "pending" and a.attempts == 1 and a.last_error for a in pending)
    assert all(a.due_at.replace(tzinfo=UTC) > now for a in pending)
    # The homeserver refuses (no such room or user): given up at once, and audited.
    with transaction(runtime.engine) as session:
        for action in session.execute(select(PlatformAction)).scalars():
            action.due_at = now
    assert actions.run_due(runtime, SynapseAdmin.from_settings(runtime.settings))["failed"] == 2
    failed = _audited(runtime, "platform.action_failed")
    assert {entry["details"]["action"] for entry in failed} == {"directory_remove", "suspend_user"}


def test_order_against_a_matrix_user_discloses_msisdn_and_ip(
    synapse: Synapse,
    runtime: Runtime,
    client: TestClient,
    cli: Callable[..., Any],
    make_token: Callable[..., str],
) -> None:
    world = World(synapse, 13)
    assert cli("matrix", "sync").exit_code == 0
    admin = make_token(Role.ADMIN)
    court = register_authority(client, admin, code="fr-tj-lille", confirmer=make_token(Role.ADMIN))
    now = datetime.now(UTC)
    payload = claims(
        court,
        targets=[{"kind": "user_id", "value": world.member.user_id}],
        period={"start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()},
    )
    received = submit(client, court, sign(court, payload))
    assert received.status_code == 201, received.text
    order = received.json()
    assert order["status"] == "checks_passed", order["checks"]
    reference = order["reference"]
    first, second = make_token(Role.LEGAL), make_token(Role.LEGAL)
    assert approve(client, reference, first).status_code == 201
    assert approve(client, reference, second).json()["status"] == "approved"
    released = release(client, reference, second)
    assert released.status_code == 201, released.text
    package = client.get(f"/v1/legal/orders/{reference}/disclosure", headers=court.headers).json()[
        "package"
    ]
    [record] = package["records"]
    assert [p["number"] for p in record["phone_number"]] == [f"+{world.member_phone}"]
    assert world.member.ip in {ip["address"] for ip in record["ip_addresses"]}
    # The owner's addresses are not the member's business.
    assert world.owner.ip not in {ip["address"] for ip in record["ip_addresses"]}


class Interrupted:
    """The homeserver, failing at the n-th call of one method: a sync cut off half-way."""

    def __init__(self, inner: SynapseAdmin, method: str, fail_at: int) -> None:
        self.inner, self.method, self.fail_at, self.calls = inner, method, fail_at, 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.fail_at:
                raise HomeserverError("connection reset", status=None, errcode=None)
            return real(*args, **kwargs)

        return call


def test_an_interrupted_sync_resumes_and_stores_nothing_twice(
    synapse: Synapse, runtime: Runtime
) -> None:
    world = World(synapse, 14)
    other = synapse.create_room(world.owner, name="Jardin partagé", alias=None, public=True)
    for day in ("lundi", "mardi", "mercredi"):
        synapse.send(world.owner, other, f"Arrosage {day} à 18 h, qui vient ?")
    homeserver = SynapseAdmin.from_settings(runtime.settings)

    def posts() -> int:
        """Post events stored so far (publications, edits and deletions)."""
        with transaction(runtime.engine, readonly=True) as session:
            return session.execute(
                select(func.count())
                .select_from(IngestedEvent)
                .where(IngestedEvent.event_type.startswith("post."))
            ).scalar_one()

    with pytest.raises(HomeserverError):
        sync(runtime, Interrupted(homeserver, "messages", fail_at=2))  # type: ignore[arg-type]
    before = posts()
    assert before > 0  # what was read before the failure was kept, with its cursor
    with transaction(runtime.engine, readonly=True) as session:
        saved = cursors(session, prefix="messages:")
    assert saved
    asked: dict[str, str | None] = {}
    original = homeserver.messages

    def messages(room_id: str, *, start: str | None, limit: int) -> dict[str, Any]:
        asked.setdefault(room_id, start)
        return original(room_id, start=start, limit=limit)

    homeserver.messages = messages  # type: ignore[method-assign]
    resumed = sync(runtime, homeserver)
    # Each room read before the failure is read on from where it stopped, not from the start.
    for key, token in saved.items():
        assert asked[key.removeprefix("messages:")] == token
    assert resumed.posts == posts() - before
    with transaction(runtime.engine, readonly=True) as session:
        stored = set(session.execute(select(Post.post_id)).scalars())
    assert {world.hello, world.offer} <= stored
    assert sync(runtime, homeserver).posts == 0


def test_the_worker_syncs_continuously_in_the_background(
    synapse: Synapse, runtime: Runtime, env: dict[str, str], tmp_path: Path
) -> None:
    world = World(synapse, 15)
    script = Path(sys.executable).with_name("rempart")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(script), "worker"],
        env={**os.environ, **env, "REMPART_MATRIX_SYNC_SECONDS": "0.5"},
        stdout=log,
        stderr=log,
    )
    try:

        def held(post_id: str) -> bool:
            with transaction(runtime.engine, readonly=True) as session:
                found = session.execute(select(Post.id).where(Post.post_id == post_id)).first()
                return found is not None

        deadline = time.monotonic() + 60
        while not held(world.offer) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert held(world.offer)
        # A message written now arrives with a later round, without anyone asking.
        later = synapse.send(world.owner, world.room, "Prochaine réunion le 12, même heure")
        deadline = time.monotonic() + 30
        while not held(later) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert held(later)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        log.close()
    # Tree heads were signed meanwhile, over the entries the sync wrote.
    heads = runtime.settings.audit_head_file.read_text().splitlines()
    assert heads


def test_an_art_23_suspension_suspends_the_matrix_account_until_it_ends(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    world = World(synapse, 16)
    offers = [world.offer] + [
        synapse.send(world.member, world.room, f"{DRUG_OFFER} (annonce {n})") for n in (2, 3)
    ]
    assert sync(runtime, SynapseAdmin.from_settings(runtime.settings)).posts >= 3
    _run_worker(runtime)
    moderator = make_token(Role.MODERATOR)
    for offer in offers:
        _decide(
            client,
            moderator,
            item_id=_item(client, moderator, offer)["id"],
            action="remove_content",
            category="drug_sales",
            manifestly_illegal=True,
            explanation="Offre de vente de stupéfiants, manifestement illicite.",
        )
    # The third manifestly illegal post suspends the author (settings: 3) for 30 days.
    _run_worker(runtime)
    user = synapse.call("GET", f"/_synapse/admin/v2/users/{world.member.user_id}")
    assert user["suspended"] is True
    assert user["deactivated"] is False
    with transaction(runtime.engine, readonly=True) as session:
        [lift] = session.execute(
            select(PlatformAction).where(
                PlatformAction.target_ref == world.member.user_id,
                PlatformAction.action == "unsuspend_user",
            )
        ).scalars()
    assert lift.state == "pending"
    days = runtime.settings.account_suspension_days
    assert abs(lift.due_at.replace(tzinfo=UTC) - (datetime.now(UTC) + timedelta(days=days))) < (
        timedelta(minutes=5)
    )

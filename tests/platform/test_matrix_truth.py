# ruff: noqa: F811 - the fixtures of test_matrix.py, imported, are the parameters
"""The Matrix connector reads only what the public could read, discloses only what was
true, and acts as a homeserver admin expects: each test plays one way this went wrong,
against the real Synapse of ``test_matrix.py``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from images import random_png
from legal_support import approve, bearer, claims, register_authority, release, sign, submit
from rempart.adapters.matrix import actions
from rempart.adapters.matrix.client import SynapseAdmin, matrix_time
from rempart.adapters.matrix.progress import SyncSummary, cursors, save
from rempart.adapters.matrix.records import event_id, fingerprint, store, username_of
from rempart.adapters.matrix.sync import sync
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.moderation import tasks as moderation_tasks
from rempart.moderation.models import ModerationItem
from rempart.platform.models import PlatformAction, Post
from rempart.reports import tasks as reports_tasks
from rempart.reports.models import Appeal
from synapse_server import Synapse
from test_matrix import (  # noqa: F401 - fixtures
    DRUG_OFFER,
    _audited,
    _decide,
    _item,
    _name,
    _run_worker,
    env,
    settings,
    synapse,
)

pytestmark = [pytest.mark.xdist_group("synapse"), pytest.mark.slow]


def _sync(runtime: Runtime) -> Any:
    homeserver = SynapseAdmin.from_settings(runtime.settings)
    try:
        return sync(runtime, homeserver)
    finally:
        homeserver.close()


def _act(runtime: Runtime) -> dict[str, int]:
    homeserver = SynapseAdmin.from_settings(runtime.settings)
    try:
        return actions.run_due(runtime, homeserver)
    finally:
        homeserver.close()


def _search(client: TestClient, query: str) -> set[str]:
    hits = client.get("/v1/search", params={"q": query, "lang": "fr"}).json()["items"]
    return {hit["ref"] for hit in hits}


def _posts(runtime: Runtime, room: str) -> set[str]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(
            select(Post.post_id).where(Post.entity_id == room, Post.deleted_at.is_(None))
        )
        return set(rows.scalars())


# -- reading only what the public could read --------------------------------------------


def test_a_room_made_public_serves_only_what_a_newcomer_may_read(
    synapse: Synapse, runtime: Runtime, client: TestClient
) -> None:
    owner = synapse.register(_name("owner"), ip="203.0.113.31")
    room = synapse.create_room(owner, name="Atelier vélo", alias=_name("velo"), public=False)
    visibility = "m.room.history_visibility"
    synapse.set_state(owner, room, visibility, {"history_visibility": "joined"})
    joined_era = synapse.send(owner, room, "Le code du local vélo est 4721, gardez-le pour vous")
    # Matrix's default history: shared with members, but the room was still invite-only.
    synapse.set_state(owner, room, visibility, {"history_visibility": "shared"})
    shared_era = synapse.send(owner, room, "Rendez-vous chez Dominique, troisième étage gauche")
    synapse.set_state(owner, room, "m.room.join_rules", {"join_rule": "public"})
    synapse.publish(owner, room)
    public_era = synapse.send(owner, room, "Atelier de réparation de vélos ouvert samedi matin")
    synapse.set_state(owner, room, visibility, {"history_visibility": "joined"})
    members_only = synapse.send(owner, room, "Compte rendu réservé aux présents de ce soir")
    synapse.set_state(owner, room, visibility, {"history_visibility": "world_readable"})
    to_all = synapse.send(owner, room, "Atelier de réparation aussi dimanche, lisible par tous")

    _sync(runtime)
    _run_worker(runtime)
    held = _posts(runtime, room)
    assert held == {public_era, to_all}
    assert not held & {joined_era, shared_era, members_only}
    # Nothing Rempart holds is more than a user who joins now may read.
    newcomer = synapse.register(_name("newcomer"), ip="198.51.100.31")
    readable = synapse.readable_by_newcomer(newcomer, room)
    assert held <= readable
    assert joined_era not in readable
    assert joined_era not in _search(client, "code local vélo 4721")
    assert shared_era not in _search(client, "Dominique troisième étage")
    assert public_era in _search(client, "atelier réparation vélos samedi")


def test_an_upgrade_takes_out_what_an_older_version_indexed_from_the_private_era(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    owner = synapse.register(_name("owner"), ip="203.0.113.36")
    room = synapse.create_room(owner, name="Club photo", alias=_name("photo"), public=False)
    secret = synapse.send(owner, room, "Les clés du local photo sont sous le paillasson bleu")
    synapse.set_state(owner, room, "m.room.join_rules", {"join_rule": "public"})
    synapse.publish(owner, room)
    public = synapse.send(owner, room, "Sortie photo ouverte à tous au port dimanche")
    _sync(runtime)
    # What an older Rempart did: the private-era message indexed, the room's state not
    # followed (no visibility cursor).
    platform = bearer(make_token(Role.PLATFORM))
    stored = client.post(
        "/v1/ingest/events",
        json={
            "events": [
                {
                    "id": f"legacy-{uuid.uuid4().hex[:8]}",
                    "type": "post.published",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "post_id": secret,
                    "entity_id": room,
                    "author_user_id": owner.user_id,
                    "text": "Les clés du local photo sont sous le paillasson bleu",
                }
            ]
        },
        headers=platform,
    )
    assert stored.status_code in (200, 201, 202), stored.text
    with transaction(runtime.engine) as session:
        save(session, values={f"visibility:{room}": None})
    assert _posts(runtime, room) == {secret, public}

    _sync(runtime)
    _run_worker(runtime)
    assert secret not in _search(client, "clés local photo paillasson")
    assert _posts(runtime, room) == {public}
    assert public in _search(client, "sortie photo port dimanche")


def test_a_room_its_owner_unlists_leaves_search_and_is_no_longer_read(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    owner = synapse.register(_name("owner"), ip="203.0.113.32")
    room = synapse.create_room(owner, name="Chorale", alias=_name("chorale"), public=True)
    hello = synapse.send(owner, room, "Répétition de la chorale mardi à la salle des fêtes")
    watched = synapse.create_room(
        owner,
        name="Pharmacie sans ordonnance",
        alias=_name("pharma"),
        public=True,
        topic="Vente de cocaïne, MDMA et kétamine, livraison 24/7, paiement crypto",
    )
    synapse.send(owner, watched, "Troc de graines au jardin partagé dimanche")
    _sync(runtime)
    _run_worker(runtime)
    assert hello in _search(client, "répétition chorale salle des fêtes")

    synapse.publish(owner, room, listed=False)
    assert _sync(runtime).rooms_gone == 1
    later = synapse.send(owner, room, "Répétition déplacée à jeudi, même salle")
    assert _sync(runtime).posts == 0
    _run_worker(runtime)
    assert hello not in _search(client, "répétition chorale salle des fêtes")
    assert later not in _posts(runtime, room)

    # A room Rempart itself took out of the directory is still public and still read.
    moderator = make_token(Role.MODERATOR)
    _decide(
        client,
        moderator,
        item_id=_item(client, moderator, watched)["id"],
        action="remove_from_search",
        category="drug_sales",
        explanation="Salon de vente de stupéfiants.",
    )
    _act(runtime)
    assert synapse.directory_visibility(watched) == "private"
    still = synapse.send(owner, watched, "Troc de boutures le week-end prochain")
    after = _sync(runtime)
    assert after.rooms_gone == 0
    assert still in _posts(runtime, watched)


# -- disclosing only what was true ------------------------------------------------------


class Court:
    def __init__(self, client: TestClient, make_token: Callable[..., str]) -> None:
        self.client, self.make_token = client, make_token
        self.handle = register_authority(
            client, make_token(Role.ADMIN), code="fr-tj-rouen", confirmer=make_token(Role.ADMIN)
        )

    def phones(self, user_id: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
        """The numbers an order over [start, end] discloses for the user, by number."""
        payload = claims(
            self.handle,
            targets=[{"kind": "user_id", "value": user_id}],
            period={"start": start.isoformat(), "end": end.isoformat()},
        )
        received = submit(self.client, self.handle, sign(self.handle, payload))
        assert received.status_code == 201, received.text
        order = received.json()
        assert order["status"] == "checks_passed", order["checks"]
        reference = order["reference"]
        first, second = self.make_token(Role.LEGAL), self.make_token(Role.LEGAL)
        assert approve(self.client, reference, first).status_code == 201
        assert approve(self.client, reference, second).json()["status"] == "approved"
        assert release(self.client, reference, second).status_code == 201
        package = self.client.get(
            f"/v1/legal/orders/{reference}/disclosure", headers=self.handle.headers
        ).json()["package"]
        [record] = package["records"]
        return {p["number"]: p for p in record.get("phone_number", [])}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_phone_numbers_are_held_from_when_they_were_bound_all_of_them_until_removed(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    user = synapse.register(_name("tel"), ip="198.51.100.33")
    first, second = "61491570133", "61491570134"
    time.sleep(1.2)
    before_any = datetime.now(UTC)
    time.sleep(1.2)
    synapse.set_msisdns(user, [first])
    # The first sync: the number came after the registration, not with it.
    _sync(runtime)
    court = Court(client, make_token)
    assert court.phones(user.user_id, before_any - timedelta(days=1), before_any) == {}

    # A second number, added between two syncs: dated when it was added, kept with the first.
    time.sleep(1.2)
    adding = datetime.now(UTC)
    synapse.set_msisdns(user, [first, second])
    added = datetime.now(UTC)
    time.sleep(1.2)
    between = datetime.now(UTC)
    time.sleep(1.2)
    _sync(runtime)
    held = court.phones(user.user_id, before_any, between)
    assert set(held) == {f"+{first}", f"+{second}"}
    since = _at(held[f"+{second}"]["held_from"])
    assert adding - timedelta(seconds=1) <= since <= added + timedelta(seconds=1)
    assert _at(held[f"+{first}"]["held_from"]) > before_any

    # The first number removed: it was last seen at the previous sync, and not after.
    time.sleep(1.2)
    synapse.set_msisdns(user, [second])
    removed = datetime.now(UTC)
    time.sleep(1.2)
    _sync(runtime)
    assert set(court.phones(user.user_id, removed, datetime.now(UTC))) == {f"+{second}"}
    everything = court.phones(user.user_id, before_any, datetime.now(UTC))
    assert set(everything) == {f"+{first}", f"+{second}"}
    assert _at(everything[f"+{first}"]["held_until"]) < removed


def _synced_by_an_older_version(
    synapse: Synapse, runtime: Runtime, user: Any, number: str
) -> datetime:
    """The older version's first sync, as it wrote it: the number held since registration,
    the account's cursor a fingerprint of its first number. When the account was created."""
    created = matrix_time(
        synapse.call("GET", f"/_synapse/admin/v2/users/{user.user_id}")["creation_ts"]
    )
    state = {"phone": number, "username": username_of(user.user_id)}
    old = {
        "type": "account.registered",
        "id": event_id("account", user.user_id, fingerprint(state), created),
        "occurred_at": created,
        "user_id": user.user_id,
        "username": state["username"],
        "phone_number": f"+{number}",
    }
    store(runtime, [old], SyncSummary(), {f"user:{user.user_id}": fingerprint(state)})
    return created


def test_an_upgrade_dates_again_the_numbers_an_older_version_held_from_registration(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    user = synapse.register(_name("ancien"), ip="198.51.100.36")
    number = "61491570136"
    time.sleep(1.2)
    before_added = datetime.now(UTC)
    time.sleep(1.2)
    adding = datetime.now(UTC)
    synapse.set_msisdns(user, [number])
    created = _synced_by_an_older_version(synapse, runtime, user, number)
    court = Court(client, make_token)
    # What those rows would disclose: the number for a time before it was added.
    assert set(court.phones(user.user_id, created, before_added)) == {f"+{number}"}

    _sync(runtime)
    assert court.phones(user.user_id, created, before_added) == {}
    held = court.phones(user.user_id, created, datetime.now(UTC))
    assert _at(held[f"+{number}"]["held_from"]) >= adding - timedelta(seconds=1)
    [corrected] = [
        e
        for e in _audited(runtime, "platform.identities_redated")
        if e["target"] == f"account:{user.user_id}"
    ]
    assert corrected["details"]["replaced_rows"] == 1
    # Dated once: the next sync changes nothing.
    _sync(runtime)
    assert len(_audited(runtime, "platform.identities_redated")) == 1


def test_a_number_an_older_version_saw_and_the_homeserver_dropped_is_held_when_seen_only(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    user = synapse.register(_name("ancien"), ip="198.51.100.38")
    dropped, kept = "61491570138", "61491570139"
    synapse.set_msisdns(user, [dropped])
    time.sleep(1.2)
    seen_from = datetime.now(UTC)
    created = _synced_by_an_older_version(synapse, runtime, user, dropped)
    seen_until = datetime.now(UTC)
    time.sleep(1.2)
    synapse.set_msisdns(user, [kept])
    time.sleep(1.2)
    replaced = datetime.now(UTC)
    _sync(runtime)
    court = Court(client, make_token)
    # Before the older version saw it, Rempart does not know the number was held.
    assert court.phones(user.user_id, created, seen_from - timedelta(seconds=1)) == {}
    assert set(court.phones(user.user_id, seen_from, seen_until)) == {f"+{dropped}"}
    assert set(court.phones(user.user_id, replaced, datetime.now(UTC))) == {f"+{kept}"}


# -- acting as a homeserver admin expects -----------------------------------------------


def _offers(synapse: Synapse, runtime: Runtime, n: int) -> tuple[Any, str, list[str]]:
    owner = synapse.register(_name("owner"), ip="203.0.113.34")
    seller = synapse.register(_name("vendeur"), ip="198.51.100.34")
    room = synapse.create_room(owner, name="Petites annonces", alias=_name("pa"), public=True)
    synapse.join(seller, room)
    offers = [synapse.send(seller, room, f"{DRUG_OFFER} (annonce {k})") for k in range(n)]
    _sync(runtime)
    _run_worker(runtime)
    return seller, room, offers


def test_an_account_stays_suspended_while_any_decision_suspending_it_stands(
    synapse: Synapse,
    runtime: Runtime,
    settings: Settings,
    client: TestClient,
    make_token: Callable[..., str],
) -> None:
    seller, _, offers = _offers(synapse, runtime, 2)
    first, second = make_token(Role.MODERATOR), make_token(Role.MODERATOR)
    items = [_item(client, first, offer)["id"] for offer in offers]
    statements = {
        _decide(
            client,
            first,
            item_id=item_id,
            action="suspend_account",
            category="drug_sales",
            explanation="Ventes de stupéfiants.",
        )["statement_puid"]
        for item_id in items
    }
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)
    _act(runtime)
    assert synapse.suspended(seller)
    # Told by server notice, with its link; no room to appeal in, which Synapse would not
    # let a suspended account join nor write in.
    with transaction(runtime.engine, readonly=True) as session:
        told = session.execute(
            select(PlatformAction.action, PlatformAction.reason).where(
                PlatformAction.target_ref == seller.user_id,
                PlatformAction.reason.in_([f"statement {puid}" for puid in statements]),
            )
        ).all()
    assert sorted(action for action, _ in told) == ["server_notice", "server_notice"]
    # One decision reversed: the other still suspends the account.
    _decide(
        client,
        second,
        item_id=items[0],
        action="no_violation",
        category="none",
        explanation="Annonce mal lue.",
    )
    _act(runtime)
    assert synapse.suspended(seller)
    # An Art. 23 suspension that ends meanwhile does not lift it either.
    with transaction(runtime.engine) as session:
        actions.plan_account_suspension(
            session,
            settings=settings,
            user_id=seller.user_id,
            until=datetime.now(UTC),
            reason="Art. 23",
        )
    _act(runtime)
    assert synapse.suspended(seller)
    # The last standing decision reversed: the account is free again.
    _decide(
        client,
        second,
        item_id=items[1],
        action="no_violation",
        category="none",
        explanation="Annonce mal lue, elle aussi.",
    )
    _act(runtime)
    assert not synapse.suspended(seller)


def test_escalating_a_removal_keeps_its_redaction_and_rempart_leaves_the_room_after(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    seller, room, [offer] = _offers(synapse, runtime, 1)
    first, second = make_token(Role.MODERATOR), make_token(Role.MODERATOR)
    item_id = _item(client, first, offer)["id"]
    _decide(
        client,
        first,
        item_id=item_id,
        action="remove_content",
        category="drug_sales",
        explanation="Offre de vente de stupéfiants.",
    )
    _decide(
        client,
        second,
        item_id=item_id,
        action="suspend_account",
        category="drug_sales",
        explanation="Vendeur de stupéfiants : compte suspendu.",
    )
    with transaction(runtime.engine) as session:
        [redaction] = session.execute(
            select(PlatformAction).where(
                PlatformAction.target_ref == offer, PlatformAction.action == "redact"
            )
        ).scalars()
        assert redaction.state == "pending"
        # The appeal window has passed.
        redaction.due_at = datetime.now(UTC)
    _act(runtime)
    assert synapse.suspended(seller)
    assert "body" not in synapse.event(seller, room, offer)["content"]
    # Rempart's admin joined the room only to redact: it does not stay.
    assert synapse.admin is not None
    assert synapse.admin.user_id not in synapse.members(room)


def test_a_blank_admin_token_is_no_configuration(settings: Settings, env: dict[str, str]) -> None:
    # The command as an operator runs it: a clear refusal, not a transport error later.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("rempart")), "matrix", "sync"],
        env={**os.environ, **env, "REMPART_MATRIX_ADMIN_TOKEN": " "},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "matrix_not_configured" in result.stdout + result.stderr
    assert "ConnectError" not in result.stdout + result.stderr
    assert settings.matrix_homeserver_url
    with pytest.raises(ValidationError, match="matrix_not_configured"):
        Settings(
            **{
                **settings.model_dump(),
                "matrix_admin_token": SecretStr("  "),
            }
        )
    blank = settings.model_copy(update={"matrix_admin_token": SecretStr("")})
    assert not actions.enabled(blank)


def test_manifestly_illegal_content_is_taken_down_at_once_with_its_media(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    seller, room, _ = _offers(synapse, runtime, 0)
    # Synapse quarantines every copy of a file (by its hash): each run sends its own.
    photo = synapse.send_image(seller, room, random_png(uuid.uuid4().int))
    _sync(runtime)
    _run_worker(runtime)
    with transaction(runtime.engine, readonly=True) as session:
        item_id = session.execute(
            select(ModerationItem.id).where(ModerationItem.ref == photo)
        ).scalar_one()
    mxc = synapse.event(seller, room, photo)["content"]["url"]
    assert synapse.download(seller, mxc) == 200
    moderator = make_token(Role.MODERATOR)
    decided = _decide(
        client,
        moderator,
        item_id=item_id,
        action="remove_content",
        category="drug_sales",
        manifestly_illegal=True,
        explanation="Photo d'une offre de stupéfiants, manifestement illicite.",
    )
    # The statement of reasons states the rule.
    statement = client.get(
        f"/v1/moderation/statements/{decided['statement_puid']}", headers=bearer(moderator)
    ).json()
    assert "deleted at once" in statement["decision_facts"]
    # Not after the appeal window: now.
    _act(runtime)
    assert "url" not in synapse.event(seller, room, photo)["content"]
    assert synapse.download(seller, mxc) == 404
    # Rempart's admin joined the room only to redact, and left it.
    assert synapse.admin is not None
    assert synapse.admin.user_id not in synapse.members(room)


def test_matrix_users_hear_of_decisions_on_matrix_and_can_appeal_from_there(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    seller, _, [offer] = _offers(synapse, runtime, 1)
    moderator = make_token(Role.MODERATOR)
    decided = _decide(
        client,
        moderator,
        item_id=_item(client, moderator, offer)["id"],
        action="remove_content",
        category="drug_sales",
        explanation="Offre de vente de stupéfiants.",
    )
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)  # the notifier sends the statement
    _act(runtime)
    [told] = [t for t in synapse.server_notices(seller) if decided["statement_puid"] in t]
    assert offer in told
    assert "Offre de vente de stupéfiants." in told
    assert "once the decision is final" in told
    # The link in the notice files the appeal.
    secret = re.search(r"/appeal#([A-Za-z0-9_-]+)", told)
    assert secret is not None
    appealed = client.post(
        "/v1/appeals",
        json={"secret": secret.group(1), "explanation": "Ce n'était qu'une blague."},
    )
    assert appealed.status_code == 202, appealed.text
    # The text, with its secret, is no longer kept once the homeserver has it.
    with transaction(runtime.engine, readonly=True) as session:
        sent = session.execute(
            select(PlatformAction).where(
                PlatformAction.action == "server_notice",
                PlatformAction.target_ref == seller.user_id,
            )
        ).scalars()
        assert all(a.state == "done" and "body" not in a.details for a in sent)


def _rempart_room(runtime: Runtime, user: Any) -> str:
    """The room Rempart opened with the user (as its cursors remember it)."""
    with transaction(runtime.engine, readonly=True) as session:
        return cursors(session, prefix="botroom:")[f"botroom:{user.user_id}"]


def _said_by_rempart(
    synapse: Synapse, user: Any, room: str, *, answers: bool = False, prefix: str = ""
) -> list[str]:
    """What Rempart wrote in the room: its notices, or (``answers``) its answers."""
    assert synapse.admin is not None
    chunk = synapse.call(
        "GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=100", user=user
    )["chunk"]
    return [
        str(e["content"]["body"])
        for e in chunk
        if e["type"] == "m.room.message"
        and e["sender"] == synapse.admin.user_id
        and e["content"]["body"].startswith(
            ("Appeal ", "Recours ") if answers else prefix or "Rempart, statement"
        )
    ]


def _removed(client: TestClient, moderator: str, offer: str) -> dict[str, Any]:
    return _decide(
        client,
        moderator,
        item_id=_item(client, moderator, offer)["id"],
        action="remove_content",
        category="drug_sales",
        explanation="Offre de vente de stupéfiants.",
    )


def test_an_appeal_is_filed_from_rempart_s_room_and_no_other_room_is_read(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    seller, _, [offer] = _offers(synapse, runtime, 1)
    other_seller, _, [other_offer] = _offers(synapse, runtime, 1)
    moderator = make_token(Role.MODERATOR)
    puid = _removed(client, moderator, offer)["statement_puid"]
    other_puid = _removed(client, moderator, other_offer)["statement_puid"]
    with transaction(runtime.engine) as session:
        moderation_tasks.deliver(session, runtime)
    _act(runtime)
    # Rempart opened a room with each seller and said there how to appeal.
    room = _rempart_room(runtime, seller)
    synapse.join(seller, room)
    [told] = [t for t in _said_by_rempart(synapse, seller, room) if puid in t]
    assert f"!appeal {puid} " in told
    assert f"!recours {puid} " in told
    other_room = _rempart_room(runtime, other_seller)
    synapse.join(other_seller, other_room)

    # A private room of the seller's own, named like Rempart's, with Rempart's admin in it:
    # never read, even for a valid command.
    assert synapse.admin is not None
    private = synapse.create_room(seller, name="Rempart", alias=None, public=False)
    invite = {"user_id": synapse.admin.user_id}
    synapse.call("POST", f"/_matrix/client/v3/rooms/{private}/invite", user=seller, body=invite)
    synapse.join(synapse.admin, private)
    hidden = synapse.send(seller, private, f"!appeal {puid} Texte écrit dans un salon privé")

    forged = synapse.send(seller, room, "!appeal rempart-999999-abcdef Je conteste tout cela")
    appealed = synapse.send(
        seller, room, f"!appeal {puid} Je vendais du sucre glace, pas autre chose"
    )
    again = synapse.send(seller, room, f"!appeal {puid} Une deuxième fois, pour être sûr")
    chatter = synapse.send(seller, room, "Bonjour, qui lit ce salon ?")
    # Someone else's decision, from the other seller's own Rempart room.
    stolen = synapse.send(
        other_seller, other_room, f"!recours {puid} Je conteste la décision d'un autre"
    )
    # The other seller's neighbour cannot speak for them in their room either: only the
    # user the room was opened with is heard (here, the admin writing as a member).
    synapse.send(synapse.admin, other_room, f"!appeal {other_puid} Écrit par quelqu'un d'autre")

    summary = _sync(runtime)
    assert summary.appeals == 1
    _act(runtime)

    with transaction(runtime.engine, readonly=True) as session:
        filed = session.execute(select(Appeal)).scalars().all()
        assert [(a.party, a.user_id, a.explanation) for a in filed] == [
            ("owner", seller.user_id, "Je vendais du sucre glace, pas autre chose")
        ]
        tracking = filed[0].tracking_id
    answers = _said_by_rempart(synapse, seller, room, answers=True)
    assert len(answers) == 3
    assert "(appeal_not_found)" in answers[0]
    assert tracking in answers[1]
    assert "(appeal_exists)" in answers[2]
    [refusal] = _said_by_rempart(synapse, other_seller, other_room, answers=True)
    assert refusal.startswith("Recours non enregistré")
    assert "(not_a_party)" in refusal
    # The private room: nothing answered there, nothing of it audited.
    assert _said_by_rempart(synapse, seller, private, answers=True) == []
    outcomes = {
        e["details"]["event"]: e["details"]["outcome"]
        for e in _audited(runtime, "platform.matrix_appeal")
    }
    assert outcomes == {
        forged: "appeal_not_found",
        appealed: "filed",
        again: "appeal_exists",
        stolen: "not_a_party",
    }
    assert hidden not in outcomes
    assert chatter not in outcomes
    # Read once: the next round files nothing and answers nothing again.
    assert _sync(runtime).appeals == 0
    _act(runtime)
    assert len(_said_by_rempart(synapse, seller, room, answers=True)) == 3


def test_a_reporter_appeals_a_refusal_from_matrix_and_is_answered_where_they_are(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    _, room, [offer] = _offers(synapse, runtime, 1)
    neighbour = synapse.register(_name("voisin"), ip="198.51.100.37")
    synapse.join(neighbour, room)
    synapse.report(neighbour, room, offer, "vente de drogue dans ce salon")
    _sync(runtime)
    _run_worker(runtime)  # the report becomes a case
    moderator = make_token(Role.MODERATOR)
    _decide(
        client,
        moderator,
        item_id=_item(client, moderator, offer)["id"],
        action="no_violation",
        category="none",
        explanation="Une annonce de sucre glace, rien d'illégal.",
    )
    with transaction(runtime.engine) as session:
        reports_tasks.deliver(session, runtime)  # the notifier tells the reporter
    _act(runtime)
    first_room = _rempart_room(runtime, neighbour)
    synapse.join(neighbour, first_room)
    [told] = [
        t
        for t in _said_by_rempart(synapse, neighbour, first_room, answers=False, prefix="Rempart")
        if "!recours" in t
    ]
    found = re.search(r"!recours (decision-[0-9]+) ", told)
    assert found is not None
    synapse.send(
        neighbour, first_room, f"!recours {found.group(1)} Ce salon vend bien de la drogue"
    )
    # The reporter leaves the room before the answer: it comes in a room opened anew.
    synapse.call("POST", f"/_matrix/client/v3/rooms/{first_room}/leave", user=neighbour, body={})
    assert _sync(runtime).appeals == 1
    _act(runtime)
    with transaction(runtime.engine, readonly=True) as session:
        [appeal] = session.execute(select(Appeal)).scalars().all()
        assert appeal.party == "reporter"
        assert appeal.reporter_id is not None
    second_room = _rempart_room(runtime, neighbour)
    assert second_room != first_room
    synapse.join(neighbour, second_room)
    [answer] = _said_by_rempart(synapse, neighbour, second_room, answers=True)
    assert appeal.tracking_id in answer


def test_the_homeserver_event_report_is_resolved_when_its_case_is_decided(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    _, room, [offer, other] = _offers(synapse, runtime, 2)
    neighbour = synapse.register(_name("voisin"), ip="198.51.100.35")
    synapse.join(neighbour, room)
    synapse.report(neighbour, room, offer, "vente de drogue dans ce salon")
    synapse.report(neighbour, room, other, "vente de drogue, encore")

    def reported() -> set[str]:
        rows = synapse.call("GET", "/_synapse/admin/v1/event_reports?limit=500")["event_reports"]
        return {r["event_id"] for r in rows}

    assert _sync(runtime).reports == 2
    _run_worker(runtime)  # the reports become cases
    moderator = make_token(Role.MODERATOR)
    _decide(
        client,
        moderator,
        item_id=_item(client, moderator, offer)["id"],
        action="remove_content",
        category="drug_sales",
        explanation="Offre de vente de stupéfiants.",
    )
    _act(runtime)
    # The decided case leaves the homeserver admins' list; the undecided one stays.
    assert offer not in reported()
    assert other in reported()


def test_rempart_does_not_lift_a_suspension_the_homeserver_admins_decided(
    synapse: Synapse, runtime: Runtime, client: TestClient, make_token: Callable[..., str]
) -> None:
    seller, _, [offer] = _offers(synapse, runtime, 1)
    synapse.call("PUT", f"/_synapse/admin/v1/suspend/{seller.user_id}", body={"suspend": True})
    first, second = make_token(Role.MODERATOR), make_token(Role.MODERATOR)
    item_id = _item(client, first, offer)["id"]
    _decide(
        client,
        first,
        item_id=item_id,
        action="suspend_account",
        category="drug_sales",
        explanation="Ventes de stupéfiants.",
    )
    _act(runtime)
    _decide(
        client,
        second,
        item_id=item_id,
        action="no_violation",
        category="none",
        explanation="Annonce mal lue.",
    )
    _act(runtime)
    assert synapse.suspended(seller)

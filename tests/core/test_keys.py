"""The key file (`rempart keys init`), data-key rotation (`rempart keys rotate`) and the
ciphertext format's refusals."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from rempart.audit.models import AuditEntry
from rempart.core import crypto
from rempart.core.crypto import DecryptionError, KeyRing
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.platform.models import Account, AccountIdentity, Connection

# -- keys init -------------------------------------------------------------------------


@pytest.fixture
def new_key_path(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fresh" / "keys.json"
    env["REMPART_KEY_FILE"] = str(path)
    monkeypatch.setenv("REMPART_KEY_FILE", str(path))
    return path


def test_keys_init_writes_a_private_complete_key_file(
    new_key_path: Path, cli: Callable[..., Any]
) -> None:
    result = cli("keys", "init")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(new_key_path.stat().st_mode) == 0o600
    assert not new_key_path.with_suffix(".json.tmp").exists()

    data = json.loads(new_key_path.read_text())
    assert data["version"] == crypto.KEY_FILE_VERSION
    assert data["demo"] is False
    [data_key] = data["data_keys"]
    assert data_key["id"]
    assert data["active_data_key"] == data_key["id"]
    assert len(base64.b64decode(data_key["key"])) == 32  # AES-256-GCM
    assert len(base64.b64decode(data["blind_index_key"])) == 32  # HMAC-SHA256
    Ed25519PrivateKey.from_private_bytes(base64.b64decode(data["signing_key"]))

    ring = crypto.read_key_file(new_key_path)
    assert ring.decrypt(ring.encrypt("+33612345678", purpose="phone"), purpose="phone") == (
        "+33612345678"
    )
    message = b"tree head"
    ring.public_key.verify(ring.sign(message), message)


def test_keys_init_refuses_to_overwrite_without_force(
    new_key_path: Path, cli: Callable[..., Any]
) -> None:
    assert cli("keys", "init").exit_code == 0
    original = new_key_path.read_bytes()

    again = cli("keys", "init")
    assert again.exit_code != 0
    assert "already exists" in again.stderr
    assert new_key_path.read_bytes() == original

    forced = cli("keys", "init", "--force")
    assert forced.exit_code == 0
    assert new_key_path.read_bytes() != original
    assert stat.S_IMODE(new_key_path.stat().st_mode) == 0o600


def test_key_file_is_private_even_over_a_stale_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    stale = tmp_path / "keys.json.tmp"
    stale.write_text("left by a crash")
    stale.chmod(0o644)
    old_umask = os.umask(0)
    try:
        crypto.write_key_file(path, KeyRing.generate())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- ciphertexts -------------------------------------------------------------------------


def test_ciphertext_is_bound_to_key_purpose_and_bytes() -> None:
    ring = KeyRing.generate()
    blob = ring.encrypt("+33612345678", purpose="phone")
    assert b"33612345678" not in blob
    assert KeyRing.key_id_of(blob) == ring.active_key_id
    assert ring.decrypt(blob, purpose="phone") == "+33612345678"
    # Same value, fresh nonce: equal plaintexts do not give equal ciphertexts.
    assert ring.encrypt("+33612345678", purpose="phone") != blob

    with pytest.raises(DecryptionError):
        ring.decrypt(blob, purpose="ip")
    for position in (len(blob) - 1, len(blob) - 20, 2 + len(ring.active_key_id) + 3):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            ring.decrypt(bytes(tampered), purpose="phone")
    for broken in (b"", blob[:1], blob[:20], b"\x02" + blob[1:]):
        with pytest.raises(DecryptionError):
            ring.decrypt(broken, purpose="phone")
    # Another key file, same format: refused, not garbage.
    with pytest.raises(DecryptionError):
        KeyRing.generate().decrypt(blob, purpose="phone")


# -- keys rotate ---------------------------------------------------------------------------


PHONES = {"u1": "+33612345678", "u2": "+4915123456789", "u3": "+61491570156"}
IPS = {"u1": "192.0.2.10", "u2": "2001:db8::1", "u3": "198.51.100.200"}


def seed(client: TestClient, headers: dict[str, str]) -> None:
    start = datetime.now(UTC) - timedelta(days=3)
    events: list[dict[str, Any]] = []
    for n, (user, phone) in enumerate(PHONES.items()):
        events.append(
            {
                "id": f"acc-{user}",
                "type": "account.registered",
                "occurred_at": (start + timedelta(minutes=n)).isoformat(),
                "user_id": user,
                "username": f"user_{user}",
                "phone_number": phone,
            }
        )
        events.extend(
            {
                "id": f"conn-{user}-{i}",
                "type": "connection.seen",
                "occurred_at": (start + timedelta(hours=i + 1)).isoformat(),
                "user_id": user,
                "ip": IPS[user],
                "port": 1000 + i,
            }
            for i in range(3)
        )
    response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text


def ciphertexts(rt: Runtime) -> dict[str, list[tuple[str, bytes, bytes]]]:
    """(user, ciphertext, blind index) per encrypted column."""
    with transaction(rt.engine, readonly=True) as session:
        return {
            "accounts": [
                (u, c, i)
                for u, c, i in session.execute(
                    select(Account.user_id, Account.phone_ciphertext, Account.phone_index)
                )
                if c is not None and i is not None
            ],
            "identities": [
                (u, c, i)
                for u, c, i in session.execute(
                    select(
                        AccountIdentity.user_id,
                        AccountIdentity.phone_ciphertext,
                        AccountIdentity.phone_index,
                    )
                )
                if c is not None and i is not None
            ],
            "connections": list(
                session.execute(
                    select(Connection.user_id, Connection.ip_ciphertext, Connection.ip_index)
                )
            ),
        }


def test_keys_rotate_reencrypts_everything_under_the_new_key(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    seed(client, platform_headers)
    old_key = runtime.keys.active_key_id
    before = ciphertexts(runtime)
    assert [len(v) for v in before.values()] == [3, 3, 9]
    assert all(
        KeyRing.key_id_of(blob) == old_key for rows in before.values() for _, blob, _ in rows
    )

    result = cli("keys", "rotate")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Re-encrypted 15 values" in result.stdout
    ring = crypto.read_key_file(runtime.settings.key_file)
    new_key = ring.active_key_id
    assert new_key != old_key
    assert set(ring.data_keys) == {old_key, new_key}  # old backups stay readable
    assert stat.S_IMODE(runtime.settings.key_file.stat().st_mode) == 0o600

    after = ciphertexts(runtime)
    for column, purpose in (("accounts", "phone"), ("identities", "phone"), ("connections", "ip")):
        for user, blob, index in after[column]:
            assert KeyRing.key_id_of(blob) == new_key, column
            value = ring.decrypt(blob, purpose=purpose)
            expected = PHONES[user] if purpose == "phone" else IPS[user]
            assert value == expected
            # The blind index did not change and still finds the value.
            lookup = ring.phone_index(value) if purpose == "phone" else ring.ip_index(value)
            assert index == lookup
        assert sorted(i for _, _, i in after[column]) == sorted(i for _, _, i in before[column])

    with transaction(runtime.engine, readonly=True) as session:
        bodies = session.execute(
            select(AuditEntry.body).where(AuditEntry.action.in_(["keys.rotate", "keys.reencrypt"]))
        ).scalars()
        entries = [json.loads(b) for b in bodies]
    rotate = [e for e in entries if e["action"] == "keys.rotate"]
    assert len(rotate) == 1
    assert rotate[0]["details"] == {"key_id": new_key, "reencrypted": 15}
    assert sum(e["details"]["rows"] for e in entries if e["action"] == "keys.reencrypt") == 15

    # Rotating again moves everything on to a third key.
    assert cli("keys", "rotate").exit_code == 0
    third = crypto.read_key_file(runtime.settings.key_file).active_key_id
    assert all(
        KeyRing.key_id_of(blob) == third
        for rows in ciphertexts(runtime).values()
        for _, blob, _ in rows
    )


def test_a_running_process_reads_data_rotated_under_it(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
) -> None:
    seed(client, platform_headers)
    running = runtime.keys  # as held by a server started before the rotation
    assert cli("keys", "rotate").exit_code == 0
    new_key = crypto.read_key_file(runtime.settings.key_file).active_key_id

    _, blob, _ = ciphertexts(runtime)["connections"][0]
    assert KeyRing.key_id_of(blob) == new_key
    assert running.decrypt(blob, purpose="ip") in IPS.values()
    # …and from then on writes under the new key too.
    assert KeyRing.key_id_of(running.encrypt("192.0.2.1", purpose="ip")) == new_key


def test_rotation_works_whatever_the_random_part_of_the_key_id(
    runtime: Runtime, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids used to be "<date>-<6 hex digits>": when the hex digits were all decimal the id
    # looked like a phone number and the audit log refused the rotation's entries.
    monkeypatch.setattr(crypto.secrets, "token_hex", lambda _n: "123456")
    result = cli("keys", "rotate")
    assert result.exit_code == 0, result.stderr
    assert crypto.read_key_file(runtime.settings.key_file).active_key_id.endswith("-123456")


def test_rotation_with_no_personal_data_is_still_audited(
    runtime: Runtime, cli: Callable[..., Any]
) -> None:
    result = cli("keys", "rotate")
    assert result.exit_code == 0, result.stderr
    with transaction(runtime.engine, readonly=True) as session:
        actions = list(session.execute(select(AuditEntry.action)).scalars())
    assert actions.count("keys.rotate") == 1


def test_rotation_does_not_undo_a_concurrent_phone_change(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    database_url: str,
) -> None:
    # The rotation decrypts with no transaction open: on SQLite too, a writer slips in.
    from rich.console import Console
    from sqlalchemy import update

    from rempart.keys import reencrypt_all

    seed(client, platform_headers)
    old = runtime.keys
    ring = old.with_new_data_key()
    new_phone = "+33698765432"
    real_decrypt = ring.decrypt_bytes
    changed = []

    def decrypt_while_the_platform_writes(blob: bytes, *, purpose: str) -> bytes:
        value = real_decrypt(blob, purpose=purpose)
        if value == PHONES["u1"].encode() and not changed:
            # Between the rotation's read and its write, ingest gives u1 a new number.
            with transaction(runtime.engine) as session:
                session.execute(
                    update(Account)
                    .where(Account.user_id == "u1")
                    .values(
                        phone_ciphertext=old.encrypt(new_phone, purpose="phone"),
                        phone_index=old.phone_index(new_phone),
                    )
                )
            changed.append(True)
        return value

    ring.decrypt_bytes = decrypt_while_the_platform_writes  # type: ignore[method-assign]
    reencrypt_all(runtime.engine, ring=ring, console=Console(quiet=True))

    assert changed
    with transaction(runtime.engine, readonly=True) as session:
        account = session.execute(select(Account).where(Account.user_id == "u1")).scalar_one()
    assert account.phone_ciphertext is not None
    assert ring.decrypt(account.phone_ciphertext, purpose="phone") == new_phone
    assert account.phone_index == ring.phone_index(new_phone)


def test_rotation_covers_every_encrypted_column() -> None:
    # The rotation reads the registry, not a list of tables: a domain whose module the
    # rotation stopped importing, or a new ciphertext column nobody registered, would
    # silently keep its rows under the old key (reporters' contacts, preserved evidence,
    # Art. 18 payloads and webhook bodies once did). A fresh interpreter, because the
    # suite's own imports would fill the registry anyway; then every model is imported
    # to list the columns that hold ciphertext.
    import subprocess
    import sys

    script = (
        "import importlib, json, pkgutil, rempart, rempart.keys\n"
        "from rempart.core.encrypted import encrypted_columns\n"
        "registered = sorted([c.model.__tablename__, c.column.key] for c in encrypted_columns())\n"
        "for m in pkgutil.iter_modules(rempart.__path__):\n"
        "    if m.ispkg:\n"
        "        try:\n"
        "            importlib.import_module(f'rempart.{m.name}.models')\n"
        "        except ModuleNotFoundError:\n"
        "            pass\n"
        "from rempart.core.db import Base\n"
        "stored = sorted([t.name, c.name] for t in Base.metadata.tables.values()"
        " for c in t.columns if c.name.endswith('ciphertext'))\n"
        "print(json.dumps([registered, stored]))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    registered, stored = json.loads(out.stdout)
    assert registered == stored
    assert ["reporters", "contact_ciphertext"] in registered


def test_rotation_reencrypts_with_no_write_transaction_open(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of rows a chunk are decrypted and encrypted again: not while holding
    SQLite's write lock, which every API write of every process waits for."""
    import write_guard

    seed(client, platform_headers)
    held: list[bool] = []
    real = KeyRing.encrypt_bytes
    with write_guard.watching_writes() as watch:

        def encrypt(self: KeyRing, plaintext: bytes, *, purpose: str) -> bytes:
            held.append(watch.holding())
            return real(self, plaintext, purpose=purpose)

        monkeypatch.setattr(KeyRing, "encrypt_bytes", encrypt)
        result = cli("keys", "rotate")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert len(held) == 15
    assert not any(held)

"""Phone numbers and IP addresses never reach the disk in the clear.

Ingest a batch of accounts and connections, then read what a thief would get: the SQLite
file with its ``-wal`` and ``-shm`` files (before and after a checkpoint), or a ``pg_dump``
of the PostgreSQL database. No form of any phone number or address may appear in it.
Positive controls (a ciphertext we know must be there is found) keep the scan honest.
"""

from __future__ import annotations

import binascii
import ipaddress
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rempart.core.crypto import DecryptionError
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.platform.models import Account, AccountIdentity, Connection

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)

# Numbers reserved for fiction: ACMA's 0491 570 xxx block and NANP's 555-01xx.
AU_PHONES = [f"+61 491 570 {n}" for n in (110, 156, 157, 158, 159, 161, 172, 183, 194, 313)]
US_PHONES = [
    f"+1 {npa} 555 01{n:02d}"
    for npa, n in zip(
        ("212", "415", "202", "312", "617", "303", "206", "305", "404", "503"),
        range(10, 20),
        strict=True,
    )
]
PHONES = AU_PHONES + US_PHONES

# Documentation ranges only (RFC 5737, RFC 3849). The IPv4 last octets avoid 0 and 255 and
# the first two of 192.0.2.x share a /24 on purpose.
IPV4 = (
    [f"192.0.2.{n}" for n in (17, 29, 41, 53, 67, 79, 91, 103, 117, 131)]
    + [f"198.51.100.{n}" for n in (13, 37, 59, 83, 97)]
    + [f"203.0.113.{n}" for n in (19, 43, 71, 89, 109)]
)
IPV6 = [
    "2001:db8:1::17",
    "2001:db8:1:ffff::2a",
    "2001:db8:2:3:4:5:6:7",
    "2001:db8:abcd:12::1:9",
    "2001:db8:0:0:1:0:0:1",
    "2001:db8:85a3::8a2e:370:7334",
    "2001:db8:cafe:1::beef",
    "2001:db8:feed:2:0:0:0:c1",
    "2001:db8:77::88:99",
    "2001:db8:4321:8765::bad:f00d",
]
IPS = IPV4 + IPV6


def _phone_forms(sent: str) -> list[str]:
    number = phonenumbers.parse(sent, None)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return sorted(
        {
            sent,
            e164,
            e164.lstrip("+"),
            national,
            re.sub(r"\D", "", national),
            international,
            str(number.national_number),
        }
    )


def _ip_text_forms(address: str) -> list[str]:
    ip = ipaddress.ip_address(address)
    forms = {address, str(ip)}
    if ip.version == 6:
        forms |= {ip.exploded, ip.exploded.upper(), ip.compressed.upper()}
    return sorted(forms)


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _batch() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i, phone in enumerate(PHONES):
        events.append(
            {
                "id": f"acct-ev-{i:02d}",
                "type": "account.registered",
                "occurred_at": (T0 + timedelta(minutes=i)).isoformat(),
                "user_id": f"user-{chr(97 + i)}",
                "username": f"member_{chr(97 + i)}",
                "phone_number": phone,
            }
        )
    for i, ip in enumerate(IPS):
        events.append(
            {
                "id": f"conn-ev-{i:02d}",
                "type": "connection.seen",
                "occurred_at": (T0 + timedelta(hours=1, minutes=i)).isoformat(),
                "user_id": f"user-{chr(97 + i % 20)}",
                "ip": ip,
                "port": 40000 + i,
                "user_agent": "PlatformClient/2.1",
            }
        )
    return events


@pytest.fixture
def stored(
    client: TestClient, platform_headers: dict[str, str], runtime: Runtime
) -> dict[str, list[Any]]:
    response = client.post("/v1/ingest/events", json={"events": _batch()}, headers=platform_headers)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == len(PHONES) + len(IPS)
    with transaction(runtime.engine, readonly=True) as session:
        return {
            "accounts": list(session.execute(sa.select(Account)).scalars()),
            "identities": list(session.execute(sa.select(AccountIdentity)).scalars()),
            "connections": list(session.execute(sa.select(Connection)).scalars()),
        }


def _needles() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(text forms, packed binary forms) of every phone and address."""
    text: dict[str, bytes] = {}
    for phone in PHONES:
        for form in _phone_forms(phone):
            text[f"phone {form!r}"] = form.encode()
    for ip in IPS:
        for form in _ip_text_forms(ip):
            text[f"ip {form!r}"] = form.encode()
    packed = {f"packed {ip}": _packed(ip) for ip in IPS}
    return text, packed


def _leaks(haystack: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in haystack]


def test_the_data_is_really_there(stored: dict[str, list[Any]], runtime: Runtime) -> None:
    """The scans below are meaningful only if the batch was stored and decrypts."""
    phones = sorted(
        runtime.keys.decrypt(a.phone_ciphertext, purpose="phone") for a in stored["accounts"]
    )
    expected = sorted(
        phonenumbers.format_number(phonenumbers.parse(p, None), phonenumbers.PhoneNumberFormat.E164)
        for p in PHONES
    )
    assert phones == expected
    ips = sorted(runtime.keys.decrypt(c.ip_ciphertext, purpose="ip") for c in stored["connections"])
    assert ips == sorted(str(ipaddress.ip_address(ip)) for ip in IPS)
    # AES-GCM with a fresh nonce: no two ciphertexts alike.
    blobs = [a.phone_ciphertext for a in stored["accounts"]]
    blobs += [c.ip_ciphertext for c in stored["connections"]]
    assert len(set(blobs)) == len(blobs)
    # The purpose is bound in: a phone ciphertext does not open as an IP.
    with pytest.raises(DecryptionError):
        runtime.keys.decrypt(stored["accounts"][0].phone_ciphertext, purpose="ip")


def _sqlite_files(settings: Settings) -> dict[str, bytes]:
    path = Path(settings.database_url.split(":///", 1)[1])
    files = {}
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            files[candidate.name] = candidate.read_bytes()
    return files


def _assert_no_leak(files: dict[str, bytes]) -> None:
    text, packed = _needles()
    found = {name: _leaks(content, text) for name, content in files.items()}
    assert all(not leaks for leaks in found.values()), found
    # A given 4-byte packed IPv4 address turns up by chance in n random bytes with
    # probability about n / 2**32. The files hold a few tens of kilobytes of ciphertexts,
    # hashes and blind indexes, so the 20 addresses give a false alarm with probability
    # below 1e-3 — and none at all for the 16-byte IPv6 forms.
    found = {name: _leaks(content, packed) for name, content in files.items()}
    assert all(not leaks for leaks in found.values()), found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_files_hold_no_plaintext(
    stored: dict[str, list[Any]], settings: Settings, runtime: Runtime
) -> None:
    some_ciphertext = stored["accounts"][0].phone_ciphertext
    some_ip_ciphertext = stored["connections"][-1].ip_ciphertext

    before = _sqlite_files(settings)
    # The app's connection is still open, so the batch sits in the write-ahead log.
    assert len(before.get(f"{Path(settings.database_url).name}-wal", b"")) > 0, list(before)
    joined = b"".join(before.values())
    assert some_ciphertext in joined
    assert some_ip_ciphertext in joined
    _assert_no_leak(before)

    # A connection of its own: the engine's would wrap the pragma in BEGIN IMMEDIATE.
    path = settings.database_url.split(":///", 1)[1]
    with closing(sqlite3.connect(path)) as connection:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    after = _sqlite_files(settings)
    database = after[Path(settings.database_url).name]
    assert some_ciphertext in database
    assert some_ip_ciphertext in database
    _assert_no_leak(after)

    runtime.engine.dispose()  # the last connection closes: SQLite folds in and drops the log
    _assert_no_leak(_sqlite_files(settings))


def _pg_dump(url: str) -> str:
    binary = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    if not Path(binary).exists():
        pytest.skip("pg_dump is not installed")
    result = subprocess.run(
        [binary, "--no-owner", "--no-privileges", f"--dbname={url}"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode()


def _bytea_values(dump: str) -> list[bytes]:
    # COPY writes bytea in hex form, its backslash escaped: \\x0110ab…
    return [binascii.unhexlify(h) for h in re.findall(r"\\\\?x((?:[0-9a-f]{2})+)\b", dump)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_pg_dump_holds_no_plaintext(stored: dict[str, list[Any]], settings: Settings) -> None:
    dump = _pg_dump(settings.database_url)
    assert "COPY public.accounts" in dump
    blobs = _bytea_values(dump)
    assert stored["accounts"][0].phone_ciphertext in blobs  # the scan sees the data
    assert stored["connections"][-1].ip_ciphertext in blobs

    text, packed = _needles()
    assert _leaks(dump.encode(), text) == []
    # Text hidden in a bytea column shows in the dump only as hex: decode and look again.
    assert [name for name, needle in text.items() if any(needle in b for b in blobs)] == []
    # The packed forms, as raw bytes inside every bytea value and as hex in the text.
    # Same chance of a false alarm as on SQLite (see _assert_no_leak): below 1e-3.
    assert [name for name, needle in packed.items() if any(needle in b for b in blobs)] == []
    hex_needles = {name: needle.hex().encode() for name, needle in packed.items()}
    assert _leaks(dump.encode(), hex_needles) == []


# -- blind indexes --------------------------------------------------------------------


def _e164(sent: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(sent, None), phonenumbers.PhoneNumberFormat.E164
    )


def test_phone_blind_index_finds_the_account(
    stored: dict[str, list[Any]], runtime: Runtime
) -> None:
    with transaction(runtime.engine, readonly=True) as session:
        for i, phone in enumerate(PHONES):
            index = runtime.keys.phone_index(_e164(phone))
            found = session.execute(
                sa.select(Account.user_id).where(Account.phone_index == index)
            ).scalars()
            assert list(found) == [f"user-{chr(97 + i)}"]
            history = session.execute(
                sa.select(AccountIdentity.user_id).where(AccountIdentity.phone_index == index)
            ).scalars()
            assert list(history) == [f"user-{chr(97 + i)}"]
        # The index is of the normalised number: other spellings do not match.
        spaced = runtime.keys.phone_index(PHONES[0])
        assert (
            session.execute(sa.select(Account.id).where(Account.phone_index == spaced)).first()
            is None
        )


def test_ip_blind_indexes(stored: dict[str, list[Any]], runtime: Runtime) -> None:
    by_ip = {runtime.keys.decrypt(c.ip_ciphertext, purpose="ip"): c for c in stored["connections"]}
    with transaction(runtime.engine, readonly=True) as session:
        for ip in IPS:
            canonical = str(ipaddress.ip_address(ip))
            found = session.execute(
                sa.select(Connection.port).where(
                    Connection.ip_index == runtime.keys.ip_index(canonical)
                )
            ).scalars()
            assert list(found) == [by_ip[canonical].port]

    def network(ip: str) -> bytes:
        return bytes(by_ip[str(ipaddress.ip_address(ip))].network_index)

    # Same /24, same network index; another /24, another index.
    assert network("192.0.2.17") == network("192.0.2.29") == network("192.0.2.131")
    assert network("192.0.2.17") != network("198.51.100.13") != network("203.0.113.19")
    assert network("198.51.100.13") == network("198.51.100.97")
    # Same /48 for IPv6.
    assert network("2001:db8:1::17") == network("2001:db8:1:ffff::2a")
    assert network("2001:db8:1::17") != network("2001:db8:2:3:4:5:6:7")
    # The exact index separates addresses of one network.
    assert by_ip["192.0.2.17"].ip_index != by_ip["192.0.2.29"].ip_index
    # Network indexes are not exact indexes under another name.
    assert network("192.0.2.17") != bytes(by_ip["192.0.2.17"].ip_index)


def _all_values(rows: Iterable[Any]) -> list[Any]:
    return [value for row in rows for value in row]


def test_no_column_holds_a_plaintext_value(stored: dict[str, list[Any]], runtime: Runtime) -> None:
    """Every table, every column, read back through SQL: the same check, backend-neutral."""
    text, packed = _needles()
    names = sa.inspect(runtime.engine).get_table_names()
    with runtime.engine.connect() as connection:
        for name in names:
            values = _all_values(
                connection.execute(sa.select(sa.text("*")).select_from(sa.table(name)))
            )
            for value in values:
                if isinstance(value, str):
                    assert _leaks(value.encode(), text) == [], (name, value)
                elif isinstance(value, bytes | memoryview):
                    assert _leaks(bytes(value), text) == [], name
                    assert (
                        _leaks(bytes(value), {k: v for k, v in packed.items() if len(v) == 16})
                        == []
                    )

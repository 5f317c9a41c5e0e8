"""Keys, field encryption (AES-GCM) and blind indexes (HMAC).

A ciphertext is ``version(1) | key-id length(1) | key id | nonce(12) | AES-GCM output`` so
that the key that made it is known and keys can rotate. The associated data binds a
ciphertext to its purpose (``phone`` or ``ip``): a phone ciphertext pasted into an IP
column fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from rempart.core.errors import ConfigurationError, RempartError

CIPHERTEXT_VERSION = 1
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Dotted quads already in canonical form skip the (slow) ipaddress module.
CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
KEY_FILE_VERSION = 1
BLIND_INDEX_BYTES = 16


class DecryptionError(RempartError):
    status_code = 500
    code = "decryption_failed"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class DataKey:
    key_id: str
    secret: bytes
    created_at: str
    aead: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.aead = AESGCM(self.secret)


@dataclass
class KeyRing:
    data_keys: dict[str, DataKey]
    active_key_id: str
    blind_index_key: bytes
    signing_key: Ed25519PrivateKey
    demo: bool = False
    # The key file this ring came from, re-read when a ciphertext names a newer key.
    source: Path | None = field(default=None, compare=False, repr=False)
    _hmac_pads: tuple[Any, Any] | None = field(default=None, init=False, repr=False)

    # -- encryption -----------------------------------------------------------------
    def encrypt(self, plaintext: str, *, purpose: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode("utf-8"), purpose=purpose)

    def encrypt_bytes(self, plaintext: bytes, *, purpose: str) -> bytes:
        # Looked up once: a concurrent reload may switch the active key meanwhile.
        key = self.data_keys[self.active_key_id]
        nonce = os.urandom(12)
        kid = key.key_id.encode("ascii")
        header = bytes([CIPHERTEXT_VERSION, len(kid)]) + kid
        return header + nonce + key.aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, *, purpose: str) -> str:
        try:
            return self.decrypt_bytes(blob, purpose=purpose).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptionError("A ciphertext could not be decrypted with the key file.") from exc

    def decrypt_bytes(self, blob: bytes, *, purpose: str) -> bytes:
        try:
            if blob[0] != CIPHERTEXT_VERSION:
                raise DecryptionError("Unknown ciphertext version.")
            kid_len = blob[1]
            kid = blob[2 : 2 + kid_len].decode("ascii")
            nonce = blob[2 + kid_len : 14 + kid_len]
            body = blob[14 + kid_len :]
            key = self.data_keys.get(kid) or self._reload_for(kid)
            return key.aead.decrypt(nonce, body, purpose.encode())
        except (IndexError, KeyError, InvalidTag, ValueError) as exc:
            # ValueError: a truncated blob leaves AES-GCM a nonce that is too short, or a key
            # id that is not ASCII; it is as undecryptable as a tampered one.
            raise DecryptionError("A ciphertext could not be decrypted with the key file.") from exc

    def _reload_for(self, kid: str) -> DataKey:
        """A key id we do not know was most likely added by `rempart keys rotate` while this
        process ran: take the new keys from the file rather than fail until a restart."""
        if self.source is None:
            raise KeyError(kid)
        try:
            fresh = read_key_file(self.source)
        except ConfigurationError:
            raise KeyError(kid) from None
        if fresh.blind_index_key != self.blind_index_key or kid not in fresh.data_keys:
            raise KeyError(kid)
        # One assignment each, so that threads reading the ring never see a half update.
        self.data_keys = {**fresh.data_keys, **self.data_keys}
        self.active_key_id = fresh.active_key_id
        return self.data_keys[kid]

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return blob[2 : 2 + blob[1]].decode("ascii")

    # -- blind indexes --------------------------------------------------------------
    def blind_index(self, value: str, *, purpose: str) -> bytes:
        """HMAC-SHA256 (RFC 2104) of purpose and value, truncated to 16 bytes."""
        if self._hmac_pads is None:
            # Hashing the padded key once and copying the states per value halves the cost
            # of OpenSSL's one-shot HMAC, which re-derives them on every call.
            key = self.blind_index_key
            if len(key) > 64:
                key = hashlib.sha256(key).digest()
            key = key.ljust(64, b"\x00")
            self._hmac_pads = (
                hashlib.sha256(bytes(b ^ 0x36 for b in key)),
                hashlib.sha256(bytes(b ^ 0x5C for b in key)),
            )
        inner, outer = self._hmac_pads[0].copy(), self._hmac_pads[1].copy()
        inner.update(purpose.encode() + b"\x00" + value.encode("utf-8"))
        outer.update(inner.digest())
        return outer.digest()[:BLIND_INDEX_BYTES]

    def phone_index(self, e164: str) -> bytes:
        return self.blind_index(e164, purpose="phone")

    def ip_index(self, address: str) -> bytes:
        return self.ip_indexes(address)[0]

    def network_index(self, address: str) -> bytes:
        """Index of the /24 (IPv4) or /48 (IPv6) that holds the address."""
        return self.ip_indexes(address)[1]

    def ip_indexes(self, address: str) -> tuple[bytes, bytes]:
        """Exact and network indexes of a canonical address, parsing it once (ingest's hot
        path; the ipaddress module costs tens of microseconds per IPv6 address)."""
        if CANONICAL_IPV4.fullmatch(address):
            canonical, network = address, address.rsplit(".", 1)[0] + ".0/24"
        else:
            packed = socket.inet_pton(socket.AF_INET6, address)
            canonical = socket.inet_ntop(socket.AF_INET6, packed)
            network = socket.inet_ntop(socket.AF_INET6, packed[:6] + bytes(10)) + "/48"
        return (
            self.blind_index(canonical, purpose="ip"),
            self.blind_index(network, purpose="network"),
        )

    # -- signing --------------------------------------------------------------------
    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def public_key_bytes(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def log_id(self) -> str:
        return hashlib.sha256(self.public_key_bytes).hexdigest()

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        signing = self.signing_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return {
            "version": KEY_FILE_VERSION,
            "demo": self.demo,
            "active_data_key": self.active_key_id,
            "data_keys": [
                {"id": k.key_id, "key": _b64(k.secret), "created_at": k.created_at}
                for k in self.data_keys.values()
            ],
            "blind_index_key": _b64(self.blind_index_key),
            "signing_key": _b64(signing),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRing:
        if data.get("version") != KEY_FILE_VERSION:
            raise ConfigurationError("The key file has an unknown version.")
        keys = {
            item["id"]: DataKey(item["id"], _unb64(item["key"]), item["created_at"])
            for item in data["data_keys"]
        }
        if data["active_data_key"] not in keys:
            raise ConfigurationError("The key file's active data key is missing.")
        return cls(
            data_keys=keys,
            active_key_id=data["active_data_key"],
            blind_index_key=_unb64(data["blind_index_key"]),
            signing_key=Ed25519PrivateKey.from_private_bytes(_unb64(data["signing_key"])),
            demo=bool(data.get("demo", False)),
        )

    @classmethod
    def generate(cls, *, demo: bool = False) -> KeyRing:
        key = _new_data_key()
        return cls(
            data_keys={key.key_id: key},
            active_key_id=key.key_id,
            blind_index_key=secrets.token_bytes(32),
            signing_key=Ed25519PrivateKey.generate(),
            demo=demo,
        )

    def with_new_data_key(self) -> KeyRing:
        key = _new_data_key()
        return KeyRing(
            data_keys={**self.data_keys, key.key_id: key},
            active_key_id=key.key_id,
            blind_index_key=self.blind_index_key,
            signing_key=self.signing_key,
            demo=self.demo,
            source=self.source,
        )


def _new_data_key() -> DataKey:
    stamp = datetime.now(UTC)
    # The letter prefix matters: an id of digits only ("20260101-123456") looks like a
    # phone number, and the audit log rightly refuses to record one.
    key_id = f"k{stamp:%Y%m%d}-{secrets.token_hex(3)}"
    return DataKey(key_id, AESGCM.generate_key(bit_length=256), stamp.isoformat())


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write atomically with owner-only permissions: a half-written key file loses data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    # A temporary file left by an earlier crash keeps its own mode under O_CREAT: start
    # afresh (O_EXCL) so that the keys are never written into a world-readable file.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(ring.to_json(), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    # The rename is durable only once the directory is synced.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_key_file(path: Path) -> KeyRing:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"No key file at {path}. Create one with `rempart keys init` "
            "(or set REMPART_KEY_FILE to an existing one)."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"The key file at {path} cannot be read.") from exc
    try:
        return KeyRing.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"The key file at {path} is malformed.") from exc


_keyrings: dict[Path, KeyRing] = {}


def load_keyring(path: Path, *, demo: bool) -> KeyRing:
    """The key file, created on first use in demo mode only; refused elsewhere when missing."""
    resolved = path.resolve()
    ring = _keyrings.get(resolved)
    if ring is None:
        if not path.exists() and demo:
            write_key_file(path, KeyRing.generate(demo=True))
        ring = read_key_file(path)
        ring.source = resolved
        _keyrings[resolved] = ring
    # Checked on every load, cached or not: demo keys are published with the code.
    if ring.demo and not demo:
        raise ConfigurationError(
            f"The key file at {path} holds demo keys; outside demo mode create real ones "
            "with `rempart keys init`."
        )
    return ring


def forget_keyrings() -> None:
    """After a rotation the file changed under the cache."""
    _keyrings.clear()

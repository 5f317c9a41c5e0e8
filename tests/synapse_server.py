"""A real Synapse homeserver on loopback, for the Matrix connector's tests.

Synapse is installed into a virtual environment of its own (``.venv-synapse``), from the
pins in ``synapse-requirements.txt``, so that its dependencies stay out of Rempart's lock.
The configuration is generated for each run: SQLite, no key servers, publication of rooms
allowed, rate limits relaxed, a random port, and ``x_forwarded`` so that each test user
can appear from its own documentation-range address.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().parent / "synapse-requirements.txt"
VENV = Path(os.environ.get("REMPART_SYNAPSE_VENV", ROOT / ".venv-synapse"))
SERVER_NAME = "rempart.test"
START_TIMEOUT = 90.0


def synapse_python() -> Path:
    """The venv's interpreter, installing Synapse first when the pins changed."""
    python = VENV / "bin" / "python"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = VENV / ".installed"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    # Two test processes may start at once: one installs, the other waits for it.
    with open(VENV.parent / ".venv-synapse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and marker.read_text() == digest):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
                check=True,
            )
            marker.write_text(digest)
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(directory: Path, port: int, shared_secret: str) -> dict[str, Any]:
    limits = {"per_second": 1000, "burst_count": 1000}
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": True,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "log_config": str(directory / "log.yaml"),
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "report_stats": False,
        "enable_registration": False,
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "room_list_publication_rules": [{"action": "allow"}],
        "rc_message": limits,
        "rc_registration": limits,
        "rc_joins": {"local": limits, "remote": limits},
        "rc_invites": {"per_room": limits, "per_user": limits, "per_issuer": limits},
        "rc_login": {"address": limits, "account": limits, "failed_attempts": limits},
        "rc_admin_redaction": limits,
        "rc_room_creation": limits,
        "rc_reports": limits,
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        # Password hashing at its cheapest: the tests register many throwaway users.
        "bcrypt_rounds": 4,
        # Where Rempart tells users of decisions about them.
        "server_notices": {
            "system_mxid_localpart": "notices",
            "system_mxid_display_name": "Rempart",
            "room_name": "Rempart notices",
        },
    }


_LOG_CONFIG = """\
version: 1
formatters:
  plain:
    format: '%(asctime)s %(levelname)s %(name)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    filename: {path}
    formatter: plain
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


@dataclass
class MatrixUser:
    user_id: str
    token: str
    ip: str


@dataclass
class Synapse:
    """A running homeserver and what the tests need to drive it."""

    directory: Path
    url: str
    shared_secret: str
    process: subprocess.Popen[bytes]
    admin: MatrixUser | None = None
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    # -- lifecycle ----------------------------------------------------------------------

    @classmethod
    def start(cls, directory: Path) -> Synapse:
        python = synapse_python()
        directory.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        shared_secret = secrets.token_hex(16)
        config_path = directory / "homeserver.yaml"
        # JSON is YAML: no YAML writer needed.
        config_path.write_text(json.dumps(_config(directory, port, shared_secret), indent=2))
        (directory / "log.yaml").write_text(_LOG_CONFIG.format(path=directory / "homeserver.log"))
        module = ["-m", "synapse.app.homeserver", "--config-path", str(config_path)]
        subprocess.run([str(python), *module, "--generate-keys"], check=True, cwd=directory)
        log = open(directory / "stdout.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([str(python), *module], cwd=directory, stdout=log, stderr=log)
        server = cls(directory, f"http://127.0.0.1:{port}", shared_secret, process)
        server._wait_until_up()
        server.admin = server.register("rempart-admin", admin=True, ip="192.0.2.1")
        return server

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited; see {self.directory / 'stdout.log'}")
            try:
                if self._http.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("Synapse did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._http.close()

    # -- client and admin calls ---------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        user: MatrixUser | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        who = user or self.admin
        headers = {}
        if who is not None:
            headers = {"Authorization": f"Bearer {who.token}", "X-Forwarded-For": who.ip}
        response = self._http.request(method, f"{self.url}{path}", json=body, headers=headers)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def register(self, localpart: str, *, ip: str, admin: bool = False) -> MatrixUser:
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        password = secrets.token_urlsafe(16)
        mac = hmac.new(
            self.shared_secret.encode(),
            b"\x00".join(
                p.encode() for p in (nonce, localpart, password, "admin" if admin else "notadmin")
            ),
            hashlib.sha1,
        )
        result = self.call(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        user = MatrixUser(result["user_id"], result["access_token"], ip)
        # A first request from the user's own address, for whois to record.
        self.call("GET", "/_matrix/client/v3/account/whoami", user=user)
        return user

    def set_msisdn(self, user: MatrixUser, msisdn: str) -> None:
        self.call(
            "PUT",
            f"/_synapse/admin/v2/users/{user.user_id}",
            body={"threepids": [{"medium": "msisdn", "address": msisdn}]},
        )

    def create_room(
        self, owner: MatrixUser, *, name: str, alias: str | None, public: bool, topic: str = ""
    ) -> str:
        body: dict[str, Any] = {
            "name": name,
            "topic": topic,
            "preset": "public_chat" if public else "private_chat",
            "visibility": "public" if public else "private",
        }
        if alias:
            body["room_alias_name"] = alias
        return str(
            self.call("POST", "/_matrix/client/v3/createRoom", user=owner, body=body)["room_id"]
        )

    def join(self, user: MatrixUser, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/join/{room_id}", user=user, body={})

    def send(self, user: MatrixUser, room_id: str, text: str) -> str:
        path = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}"
        body = {"msgtype": "m.text", "body": text}
        return str(self.call("PUT", path, user=user, body=body)["event_id"])

    def report(self, user: MatrixUser, room_id: str, event_id: str, reason: str) -> None:
        path = f"/_matrix/client/v3/rooms/{room_id}/report/{event_id}"
        self.call("POST", path, user=user, body={"reason": reason, "score": -100})

    def directory_visibility(self, room_id: str) -> str:
        path = f"/_matrix/client/v3/directory/list/room/{room_id}"
        return str(self.call("GET", path)["visibility"])

    def public_room_ids(self) -> set[str]:
        rooms = self.call("GET", "/_matrix/client/v3/publicRooms")["chunk"]
        return {room["room_id"] for room in rooms}

    def event(self, user: MatrixUser, room_id: str, event_id: str) -> dict[str, Any]:
        """An event as a member of its room sees it (a redacted one has lost its content)."""
        return self.call("GET", f"/_matrix/client/v3/rooms/{room_id}/event/{event_id}", user=user)

    def send_image(self, user: MatrixUser, room_id: str, png: bytes) -> str:
        response = self._http.post(
            f"{self.url}/_matrix/media/v3/upload?filename=photo.png",
            content=png,
            headers={"Authorization": f"Bearer {user.token}", "Content-Type": "image/png"},
        )
        response.raise_for_status()
        path = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}"
        body = {
            "msgtype": "m.image",
            "body": "photo.png",
            "url": response.json()["content_uri"],
            "info": {"mimetype": "image/png", "size": len(png)},
        }
        return str(self.call("PUT", path, user=user, body=body)["event_id"])

    def make_invite_only(self, user: MatrixUser, room_id: str) -> None:
        path = f"/_matrix/client/v3/rooms/{room_id}/state/m.room.join_rules/"
        self.call("PUT", path, user=user, body={"join_rule": "invite"})

    def set_msisdns(self, user: MatrixUser, msisdns: list[str]) -> None:
        """The account's numbers become these (Synapse keeps the dates of those it had)."""
        threepids = [{"medium": "msisdn", "address": msisdn} for msisdn in msisdns]
        self.call("PUT", f"/_synapse/admin/v2/users/{user.user_id}", body={"threepids": threepids})

    def set_state(
        self, user: MatrixUser, room_id: str, event_type: str, content: dict[str, Any]
    ) -> None:
        path = f"/_matrix/client/v3/rooms/{room_id}/state/{event_type}/"
        self.call("PUT", path, user=user, body=content)

    def publish(self, user: MatrixUser, room_id: str, *, listed: bool = True) -> None:
        """The room in (or out of) the public room directory, as its owner decides."""
        path = f"/_matrix/client/v3/directory/list/room/{room_id}"
        body = {"visibility": "public" if listed else "private"}
        self.call("PUT", path, user=user, body=body)

    def readable_by_newcomer(self, newcomer: MatrixUser, room_id: str) -> set[str]:
        """The messages a user who joins the room now can read."""
        self.join(newcomer, room_id)
        chunk = self.call(
            "GET", f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=500", user=newcomer
        )["chunk"]
        return {e["event_id"] for e in chunk if e["type"] == "m.room.message" and e["content"]}

    def suspended(self, user: MatrixUser) -> bool:
        return bool(self.call("GET", f"/_synapse/admin/v2/users/{user.user_id}")["suspended"])

    def members(self, room_id: str) -> set[str]:
        return set(self.call("GET", f"/_synapse/admin/v1/rooms/{room_id}/members")["members"])

    def download(self, user: MatrixUser, mxc: str) -> int:
        """The status a member gets fetching a file (404 once quarantined)."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        response = self._http.get(
            f"{self.url}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {user.token}"},
        )
        return response.status_code

    def server_notices(self, user: MatrixUser) -> list[str]:
        """The texts of the server notices the user received (joining the notices room)."""
        rooms = self.call("GET", "/_matrix/client/v3/sync?timeout=0", user=user)["rooms"]
        for room_id in rooms.get("invite", {}):
            self.join(user, room_id)
        texts: list[str] = []
        for room_id in self.call("GET", "/_matrix/client/v3/joined_rooms", user=user)[
            "joined_rooms"
        ]:
            chunk = self.call(
                "GET", f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100", user=user
            )["chunk"]
            texts.extend(
                str(e["content"]["body"])
                for e in chunk
                if e["type"] == "m.room.message" and e["sender"].startswith("@notices:")
            )
        return texts

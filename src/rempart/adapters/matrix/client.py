"""Synapse's client and admin APIs, as far as Rempart uses them.

Everything here is a server admin's call: Rempart reads what an operator may read, and only
the content of rooms the sync has found to be public (``sync.is_public``).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from rempart.core.settings import Settings

if TYPE_CHECKING:
    import httpx


class HomeserverError(Exception):
    """A call the homeserver refused or could not answer."""

    def __init__(self, message: str, *, status: int | None, errcode: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode
        # What the failed step had done before it failed (a room it created), to remember.
        self.learnt: dict[str, object] = {}

    @property
    def permanent(self) -> bool:
        """A refusal that retrying will not change (unlike a timeout, a 5xx or a 429)."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


JSON = dict[str, Any]


class Homeserver(Protocol):
    def users(self, *, start: str | None, limit: int) -> JSON: ...
    def user(self, user_id: str) -> JSON: ...
    def whois(self, user_id: str) -> JSON: ...
    def rooms(self, *, start: int, limit: int) -> JSON: ...
    def room(self, room_id: str) -> JSON: ...
    def messages(self, room_id: str, *, start: str | None, limit: int) -> JSON: ...
    def event_reports(self, *, start: int, limit: int) -> JSON: ...  # newest first
    def media(self, mxc: str, *, max_bytes: int) -> bytes | None: ...
    def set_directory_visibility(self, room_id: str, visibility: str) -> None: ...
    def redact(self, room_id: str, event_id: str, *, reason: str, txn_id: str) -> None: ...
    def event_media(self, room_id: str, event_id: str) -> list[str]: ...
    def quarantine_media(self, mxc: str) -> None: ...
    def server_notice(self, user_id: str, text: str, *, txn_id: str) -> None: ...
    def delete_event_report(self, report_id: int) -> None: ...
    def block_room(self, room_id: str, *, block: bool) -> None: ...
    def suspend_user(self, user_id: str, *, suspend: bool) -> None: ...
    def open_direct_room(self, user_id: str, *, name: str, topic: str) -> str: ...
    def still_with(self, room_id: str, user_id: str) -> bool: ...
    def send_text(self, room_id: str, text: str, *, txn_id: str) -> None: ...
    def read_as_member(self, room_id: str, *, start: str | None, limit: int) -> JSON: ...


def matrix_time(value: int | float) -> datetime:
    """A Matrix timestamp (milliseconds; some admin APIs still answer in seconds)."""
    seconds = value / 1000 if value > 10**11 else value
    return datetime.fromtimestamp(seconds, tz=UTC)


def _q(value: str) -> str:
    return quote(value, safe="")


class SynapseAdmin:
    """Synapse over HTTP with a server admin's access token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        # httpx loads when a homeserver is first called, not when a web process starts.
        import httpx

        self._http: httpx.Client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SynapseAdmin:
        token = settings.matrix_admin_token
        if not settings.matrix_homeserver_url or token is None or not token.get_secret_value():
            raise ValueError("no Matrix homeserver is configured")
        return cls(
            settings.matrix_homeserver_url,
            token.get_secret_value(),
            timeout=settings.matrix_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def _whoami(self) -> str:
        """The server admin Rempart acts as."""
        return str(self._call("GET", "/_matrix/client/v3/account/whoami")["user_id"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
    ) -> JSON:
        import httpx

        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise HomeserverError(
                f"{method} {path.split('?')[0]}: {type(exc).__name__}", status=None, errcode=None
            ) from exc
        if response.status_code >= 400:
            errcode = None
            with contextlib.suppress(ValueError):
                errcode = response.json().get("errcode")
            raise HomeserverError(
                f"{method} {path}: HTTP {response.status_code} {errcode or ''}".strip(),
                status=response.status_code,
                errcode=errcode,
            )
        result: JSON = response.json() if response.content else {}
        return result

    # -- reads --------------------------------------------------------------------------

    def users(self, *, start: str | None, limit: int) -> JSON:
        params: dict[str, Any] = {"limit": limit, "guests": "false", "order_by": "name"}
        if start is not None:
            params["from"] = start
        return self._call("GET", "/_synapse/admin/v2/users", params=params)

    def user(self, user_id: str) -> JSON:
        return self._call("GET", f"/_synapse/admin/v2/users/{_q(user_id)}")

    def whois(self, user_id: str) -> JSON:
        return self._call("GET", f"/_synapse/admin/v1/whois/{_q(user_id)}")

    def rooms(self, *, start: int, limit: int) -> JSON:
        params = {"from": start, "limit": limit, "order_by": "name", "dir": "f"}
        return self._call("GET", "/_synapse/admin/v1/rooms", params=params)

    def room(self, room_id: str) -> JSON:
        return self._call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}")

    def messages(self, room_id: str, *, start: str | None, limit: int) -> JSON:
        params: dict[str, Any] = {"dir": "f", "limit": limit}
        if start is not None:
            params["from"] = start
        return self._call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}/messages", params=params)

    def event_reports(self, *, start: int, limit: int) -> JSON:
        """Newest first."""
        params = {"from": start, "limit": limit, "dir": "b"}
        return self._call("GET", "/_synapse/admin/v1/event_reports", params=params)

    def media(self, mxc: str, *, max_bytes: int) -> bytes | None:
        """The file behind an ``mxc://server/id`` URI, or None when larger than allowed."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        path = f"/_matrix/client/v1/media/download/{_q(server)}/{_q(media_id)}"
        import httpx

        try:
            with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    raise HomeserverError(
                        f"GET media: HTTP {response.status_code}",
                        status=response.status_code,
                        errcode=None,
                    )
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise HomeserverError(
                f"GET media: {type(exc).__name__}", status=None, errcode=None
            ) from exc

    # -- actions ------------------------------------------------------------------------

    def set_directory_visibility(self, room_id: str, visibility: str) -> None:
        path = f"/_matrix/client/v3/directory/list/room/{_q(room_id)}"
        self._call("PUT", path, body={"visibility": visibility})

    def redact(self, room_id: str, event_id: str, *, reason: str, txn_id: str) -> None:
        # The transaction id makes a retried redaction the same request, not a second one.
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/redact/{_q(event_id)}/{_q(txn_id)}"
        try:
            self._call("PUT", path, body={"reason": reason})
        except HomeserverError as exc:
            if exc.status != 403:
                raise
            # Matrix lets only a member with enough power redact, server admins included:
            # join the room and take the power a local room admin has, then redact.
            admin = self._whoami()
            members = self._call("GET", f"/_synapse/admin/v1/rooms/{_q(room_id)}/members")
            was_member = admin in members.get("members", [])
            self._call("POST", f"/_synapse/admin/v1/join/{_q(room_id)}", body={"user_id": admin})
            try:
                self._call(
                    "POST",
                    f"/_synapse/admin/v1/rooms/{_q(room_id)}/make_room_admin",
                    body={"user_id": admin},
                )
                self._call("PUT", path, body={"reason": reason})
            finally:
                if not was_member:
                    # Joined only to act: the room's members did not invite Rempart in.
                    self._call("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/leave", body={})

    def event_media(self, room_id: str, event_id: str) -> list[str]:
        """The ``mxc://`` files an event carries (an image and its thumbnail)."""
        path = f"/_synapse/admin/v1/rooms/{_q(room_id)}/context/{_q(event_id)}"
        content = self._call("GET", path, params={"limit": 1}).get("event", {}).get("content", {})
        info = content.get("info") if isinstance(content.get("info"), dict) else {}
        found = [content.get("url"), info.get("thumbnail_url")]
        return [u for u in found if isinstance(u, str) and u.startswith("mxc://")]

    def quarantine_media(self, mxc: str) -> None:
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        path = f"/_synapse/admin/v1/media/quarantine/{_q(server)}/{_q(media_id)}"
        self._call("POST", path, body={})

    def server_notice(self, user_id: str, text: str, *, txn_id: str) -> None:
        """A message from the server to the user, in their server-notices room (Synapse's
        ``server_notices`` must be configured). The transaction id makes a retry the same
        notice."""
        self._call(
            "PUT",
            f"/_synapse/admin/v1/send_server_notice/{_q(txn_id)}",
            body={"user_id": user_id, "content": {"msgtype": "m.text", "body": text}},
        )

    def delete_event_report(self, report_id: int) -> None:
        """Handled: off the homeserver admins' list (one already gone counts as done)."""
        try:
            self._call("DELETE", f"/_synapse/admin/v1/event_reports/{int(report_id)}")
        except HomeserverError as exc:
            if exc.status != 404:
                raise

    def block_room(self, room_id: str, *, block: bool) -> None:
        self._call("PUT", f"/_synapse/admin/v1/rooms/{_q(room_id)}/block", body={"block": block})

    def suspend_user(self, user_id: str, *, suspend: bool) -> None:
        self._call("PUT", f"/_synapse/admin/v1/suspend/{_q(user_id)}", body={"suspend": suspend})

    # -- Rempart's own room with a user ---------------------------------------------------

    def open_direct_room(self, user_id: str, *, name: str, topic: str) -> str:
        """A direct room between Rempart's admin and the user, for what they write to
        Rempart. Not encrypted, so that Rempart can read the user's requests; the user may
        write but not change the room (its encryption, who is invited, its history)."""
        body: JSON = {
            "preset": "private_chat",
            "is_direct": True,
            "invite": [user_id],
            "name": name,
            "topic": topic,
            # The creator (Rempart's admin) keeps all power, as the preset gives it.
            "power_level_content_override": {
                "users_default": 0,
                "events_default": 0,
                "state_default": 100,
                "invite": 100,
                "kick": 100,
                "ban": 100,
                "redact": 100,
            },
        }
        return str(self._call("POST", "/_matrix/client/v3/createRoom", body=body)["room_id"])

    def still_with(self, room_id: str, user_id: str) -> bool:
        """Whether the user is still in (or invited to) Rempart's room with them."""
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/state/m.room.member/{_q(user_id)}"
        try:
            membership = self._call("GET", path).get("membership")
        except HomeserverError as exc:
            if exc.status in (403, 404):
                return False
            raise
        return membership in ("invite", "join")

    def send_text(self, room_id: str, text: str, *, txn_id: str) -> None:
        """A notice from Rempart's admin in a room it is in; the transaction id makes a
        retry the same message."""
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/send/m.room.message/{_q(txn_id)}"
        self._call("PUT", path, body={"msgtype": "m.notice", "body": text})

    def read_as_member(self, room_id: str, *, start: str | None, limit: int) -> JSON:
        """A room's timeline as Rempart's admin, a member, sees it (the client API, which
        keeps to the room's history visibility): used for Rempart's own rooms only."""
        params: dict[str, Any] = {"dir": "f", "limit": limit}
        if start is not None:
            params["from"] = start
        return self._call("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/messages", params=params)

"""Matrix sync throughput against a real Synapse on loopback.

Starts a homeserver (installed into .venv-synapse like the tests do), fills it with users
who have phone numbers, public rooms with messages and a private room, then times a first
full sync into a fresh SQLite database and a second sync that finds nothing new.

    python bench/matrix_sync.py [--users 200] [--rooms 10] [--messages 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rempart.adapters.matrix.client import SynapseAdmin  # noqa: E402
from rempart.adapters.matrix.sync import sync  # noqa: E402
from rempart.core import crypto  # noqa: E402
from rempart.core.db import get_engine  # noqa: E402
from rempart.core.deps import Runtime  # noqa: E402
from rempart.core.migrate import upgrade  # noqa: E402
from rempart.core.settings import Settings  # noqa: E402
from synapse_server import Synapse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = Synapse.start(workdir / "synapse")
        try:
            started = time.perf_counter()
            users = []
            for n in range(args.users):
                user = server.register(f"bench{n}", ip=f"198.18.{n // 250}.{n % 250 + 1}")
                server.set_msisdn(user, f"61491570{n % 1000:03d}")
                users.append(user)
            rooms = []
            for r in range(args.rooms):
                owner = users[r % len(users)]
                room = server.create_room(owner, name=f"Salon {r}", alias=f"salon{r}", public=True)
                rooms.append((room, owner))
                for m in range(args.messages):
                    server.send(owner, room, f"Message {m} du salon {r} : rendez-vous jeudi")
            print(f"homeserver filled in {time.perf_counter() - started:.0f} s")

            url = f"sqlite:///{workdir / 'rempart.db'}"
            upgrade(url)
            key_file = workdir / "keys.json"
            crypto.write_key_file(key_file, crypto.KeyRing.generate())
            assert server.admin is not None
            settings = Settings(
                database_url=url,
                key_file=key_file,
                audit_head_file=workdir / "heads.jsonl",
                matrix_homeserver_url=server.url,
                matrix_admin_token=SecretStr(server.admin.token),
            )
            keys = crypto.load_keyring(key_file, demo=False)
            rt = Runtime(settings=settings, engine=get_engine(url), keys=keys)
            homeserver = SynapseAdmin.from_settings(settings)
            for label in ("first sync", "second sync"):
                started = time.perf_counter()
                summary = sync(rt, homeserver)
                elapsed = time.perf_counter() - started
                print(
                    f"{label:<12} {elapsed:6.2f} s: {summary.accounts} accounts, "
                    f"{summary.connections} connections, {summary.rooms} rooms, "
                    f"{summary.posts} posts stored; "
                    f"{args.users / elapsed:,.0f} users/s, "
                    f"{args.rooms * args.messages / elapsed:,.0f} messages/s read"
                )
            homeserver.close()
        finally:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""What Rempart's own rooms with users (appeals from Matrix) cost a sync round.

Starts a homeserver (installed into .venv-synapse like the tests do), opens a Rempart
room with each of N users as the worker does, then times reading them all: once with one
command per room (each refused, so each answered and audited), once with nothing new
(one request per room: the part of every round that grows with the number of rooms).

    python bench/matrix_appeal_rooms.py [--users 200]
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

from rempart.adapters.matrix import bot  # noqa: E402
from rempart.adapters.matrix.client import SynapseAdmin  # noqa: E402
from rempart.adapters.matrix.progress import SyncSummary  # noqa: E402
from rempart.core import crypto  # noqa: E402
from rempart.core.db import get_engine, transaction  # noqa: E402
from rempart.core.deps import Runtime  # noqa: E402
from rempart.core.migrate import upgrade  # noqa: E402
from rempart.core.settings import Settings  # noqa: E402
from synapse_server import Synapse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = Synapse.start(workdir / "synapse")
        try:
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
            started = time.perf_counter()
            for n in range(args.users):
                user = server.register(f"appel{n}", ip=f"198.18.{n // 250}.{n % 250 + 1}")
                room = homeserver.open_direct_room(
                    user.user_id, name=bot.ROOM_NAME, topic=bot.ROOM_TOPIC
                )
                with transaction(rt.engine) as session:
                    bot.remember_room(session, user_id=user.user_id, room_id=room)
                server.join(user, room)
                server.send(user, room, f"!appeal decision-{10**9 + n} Je conteste, voici pourquoi")
            print(f"{args.users} rooms opened in {time.perf_counter() - started:.0f} s")
            for label in ("commands", "nothing new"):
                summary = SyncSummary()
                started = time.perf_counter()
                bot.read_rooms(rt, homeserver, summary)
                elapsed = time.perf_counter() - started
                print(
                    f"{label:<12} {elapsed:6.2f} s: {args.users / elapsed:,.0f} rooms/s, "
                    f"{summary.refused} commands answered"
                )
            homeserver.close()
        finally:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""How fast the console and public pages answer on the demo data (target: under 300 ms).

    .venv/bin/python bench/pages.py [--posts 20000]

Seeds the demo platform into a temporary database, lets the worker scan it, serves the app
on loopback, signs in as the demo moderator, legal reviewer and auditor, and times each
main page over several requests (p50 and max).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pyotp
import uvicorn
from rich.console import Console
from sqlalchemy import func, select

from rempart.app import create_app
from rempart.core import crypto
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.migrate import upgrade
from rempart.core.settings import Settings
from rempart.demo import seed as demo
from rempart.moderation.models import ModerationItem
from rempart.worker import Worker

PAGES = {
    None: ["/", "/report", "/appeal", "/disclosure", "/transparency/FR"],
    "moderator": ["/console/moderation", "/console/moderation?reason=suspected_raid"],
    "legal1": ["/console/legal/orders"],
    "auditor": ["/console/audit"],
}


def sign_in(client: httpx.Client, login: dict[str, str], username: str) -> None:
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    answer = client.post(
        "/console/login",
        data={
            "csrf": csrf.group(1),
            "username": username,
            "password": login["password"],
            "code": pyotp.TOTP(login["totp_secret"]).now(),
        },
    )
    assert answer.status_code in (200, 303), answer.text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rempart-pages-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'demo.db'}",
        key_file=folder / "keys.json",
        audit_head_file=folder / "heads.jsonl",
        notification_outbox=folder / "outbox.jsonl",
        demo=True,
        classifier_semantic=False,
    )
    crypto.write_key_file(settings.key_file, crypto.KeyRing.generate(demo=True))
    upgrade(settings.database_url)
    rt = Runtime(
        settings,
        get_engine(settings.database_url),
        crypto.load_keyring(settings.key_file, demo=True),
    )
    demo.seed(rt, console=Console(quiet=True), posts=args.posts)
    worker = Worker(rt)
    while worker.tick():
        pass
    logins = json.loads(demo.credentials_file(rt).read_text())["web_logins"]
    # The item at the head of the queue, and the account owning the most items: the
    # moderator's item page and the two timelines at their busiest.
    with transaction(rt.engine) as session:
        head = session.execute(
            select(ModerationItem.id)
            .where(ModerationItem.pending_review.is_(True))
            .order_by(ModerationItem.priority.desc())
            .limit(1)
        ).scalar_one()
        owner = session.execute(
            select(ModerationItem.owner_user_id)
            .where(ModerationItem.owner_user_id.is_not(None))
            .group_by(ModerationItem.owner_user_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
    PAGES["moderator"] += [
        f"/console/moderation/items/{head}",
        f"/console/moderation/items/{head}/timeline",
        "/console/moderation/accounts/timeline?" + urlencode({"user": owner}),
        "/console/moderation/settings",
    ]
    PAGES["legal1"] += ["/console/legal/escalations"]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    for who, paths in PAGES.items():
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            if who:
                sign_in(client, logins[who], who)
            for path in paths:
                times = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                print(
                    f"{who or 'public':<10} {path[:60]:<60} p50 {statistics.median(times):6.1f} ms"
                    f"  max {max(times):6.1f} ms"
                )
    server.should_exit = True
    print(f"{args.posts} demo posts; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

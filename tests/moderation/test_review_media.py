"""Images under review: a blurred preview in the queue, the original only through an audited
reveal by the moderator who may decide, forgotten after the decision or the review period;
and the queue filtered by the kind of signal that fired."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from factories import KNOWN_PICTURE as PICTURE
from factories import publish_known_image
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.moderation import media
from rempart.platform.media import hash_image


def test_blurred_preview_then_audited_reveal_then_forgotten(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    publish_known_image(client, runtime, platform_headers, cli, tmp_path)
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    colleague = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}

    by_hash = client.get("/v1/moderation/queue?source=hash", headers=moderator).json()
    assert [i["ref"] for i in by_hash["items"]] == ["p-pic"]
    by_classifier = client.get("/v1/moderation/queue?source=classifier", headers=moderator)
    assert "p-glock" in {i["ref"] for i in by_classifier.json()["items"]}
    assert client.get("/v1/moderation/queue?source=gut", headers=moderator).status_code == 422

    [item] = by_hash["items"]
    [picture] = item["media"]
    assert picture["sha256"] == hash_image(PICTURE).sha256
    preview = client.get(picture["preview_url"], headers=moderator)
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["cache-control"] == "no-store"
    with Image.open(io.BytesIO(preview.content)) as shown:
        assert shown.mode == "L"
        assert max(shown.size) <= media.PREVIEW_PIXELS
    assert client.get(picture["preview_url"]).status_code == 401

    # A reveal needs a reason, and the item must not be held by someone else.
    no_reason = client.post(picture["reveal_url"], json={}, headers=moderator)
    assert no_reason.status_code == 422
    claimed = client.post("/v1/moderation/queue/claim?source=hash", headers=colleague).json()
    assert claimed["ref"] == "p-pic"
    reason = {"reason": "The preview is too blurred to confirm the bank match."}
    held = client.post(picture["reveal_url"], json=reason, headers=moderator)
    assert held.status_code == 409
    revealed = client.post(picture["reveal_url"], json=reason, headers=colleague)
    assert revealed.status_code == 200
    assert revealed.content == PICTURE
    assert revealed.headers["content-type"] == "image/jpeg"
    with transaction(runtime.engine) as session:
        [entry] = session.execute(
            select(AuditEntry).where(AuditEntry.action == "moderation.media.revealed")
        ).scalars()
        body = json.loads(entry.body)
        assert body["target"] == "post:p-pic"
        assert body["details"]["reason"] == reason["reason"]

    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "remove_content",
            "category": "terrorism",
            "explanation": "Image matches a known terrorist propaganda hash.",
        },
        headers=colleague,
    )
    assert decided.status_code == 201, decided.text
    # Once decided, only the hashes remain.
    gone = client.get(picture["preview_url"], headers=colleague)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "media_not_held"
    missing = client.get("/v1/moderation/media/999999/preview", headers=colleague)
    assert missing.json()["error"]["code"] == "media_not_found"


def test_review_media_expire(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    publish_known_image(client, runtime, platform_headers, cli, tmp_path)
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    [item] = client.get("/v1/moderation/queue?source=hash", headers=moderator).json()["items"]
    url = item["media"][0]["preview_url"]
    assert client.get(url, headers=moderator).status_code == 200
    later = runtime.now() + timedelta(days=runtime.settings.media_review_days, minutes=1)
    with transaction(runtime.engine) as session:
        assert media.purge_expired(session, now=later) == 1
    assert client.get(url, headers=moderator).status_code == 404
    [item] = client.get("/v1/moderation/queue?source=hash", headers=moderator).json()["items"]
    assert item["media"][0]["preview_url"] is None


def test_the_console_item_page_shows_its_blurred_preview(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from factories import make_login, sign_in

    publish_known_image(client, runtime, platform_headers, cli, tmp_path)
    moderator = {"Authorization": f"Bearer {make_token(Role.MODERATOR)}"}
    [item] = client.get("/v1/moderation/queue?source=hash", headers=moderator).json()["items"]
    anonymous = client.get(
        f"/console/moderation/media/{item['media'][0]['id']}/preview", follow_redirects=False
    )
    assert anonymous.status_code == 303
    assert sign_in(client, make_login(runtime, "mod-preview", Role.MODERATOR)).status_code == 303
    page = client.get(f"/console/moderation/items/{item['id']}")
    [source] = re.findall(r'<img src="([^"]+)" alt="Blurred', page.text)
    # The browser fetches the image with the console's session, not an API token.
    preview = client.get(source)
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["cache-control"] == "no-store"

"""Child sexual abuse material: a hash-bank match, or a moderator's confirmed decision in
that category, produces one report to the hotline in the fields of NCMEC's CyberTipline
report; the evidence is preserved encrypted for the legal period, then purged; the account
is suspended; the media is never shown unblurred without an explicit, audited reveal.

The synthetic stand-in for known material is a photograph of a bridge (the PDQ fixtures)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from factories import event, run_worker
from legal_support import bearer
from rempart.audit.models import AuditEntry
from rempart.auth.permissions import Role
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.hotline import tasks
from rempart.hotline.models import HotlineReport
from rempart.hotline.reporter import DirectoryHotline
from rempart.hotline.schemas import CyberTiplineReport
from rempart.moderation.models import ModerationItem, ReviewMedia
from rempart.platform.media import hash_image
from rempart.preservation import service as preservation
from rempart.preservation.exceptions import EvidencePurged
from rempart.preservation.models import PreservedEvidence
from rempart.reports.models import Notice

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdq"
KNOWN = (FIXTURES / "bridge-1-original.jpg").read_bytes()
UNKNOWN = (FIXTURES / "small.jpg").read_bytes()
PHONE_E164 = "+61491570157"
ADDRESS = "198.51.100.23"
CAPTION = "caption-marker-7f3a"
REPORT_KEYS = {
    "reference",
    "reporter",
    "incidentSummary",
    "webPageIncident",
    "personOrUserReported",
    "uploadedFiles",
}


def _publish(
    client: TestClient,
    runtime: Runtime,
    headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    bank = tmp_path / "bank.csv"
    bank.write_text(f"hash,algorithm,category\n{hash_image(KNOWN).pdq},pdq,csam_indicators\n")
    assert cli("banks", "import", str(bank), "--bank", "ncmec-like").exit_code == 0
    events = [
        event(
            "e-acc", "account.registered", user_id="u-up", username="up", phone_number=PHONE_E164
        ),
        event("e-conn", "connection.seen", user_id="u-up", ip=ADDRESS, port=40123),
        event(
            "e-ch",
            "entity.published",
            entity_id="ch-pics",
            kind="group",
            title="Photos",
            owner_user_id="u-owner",
            member_count=10,
        ),
        event(
            "e-known",
            "post.published",
            post_id="p-known",
            entity_id="ch-pics",
            author_user_id="u-up",
            text=CAPTION,
            media=[{"image_base64": base64.b64encode(KNOWN).decode()}],
        ),
        event(
            "e-new",
            "post.published",
            post_id="p-new",
            entity_id="ch-pics",
            author_user_id="u-up",
            media=[{"image_base64": base64.b64encode(UNKNOWN).decode()}],
        ),
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    run_worker(runtime)


def _deliver(runtime: Runtime) -> int:
    return tasks.run(runtime)


def _report_file(runtime: Runtime, reference: str) -> dict[str, Any]:
    written: dict[str, Any] = json.loads(
        (runtime.settings.hotline_directory / f"{reference}.json").read_text()
    )
    return written


def _reports(runtime: Runtime) -> dict[str, HotlineReport]:
    with transaction(runtime.engine, readonly=True) as session:
        rows = session.execute(
            select(HotlineReport, ModerationItem.ref).join(
                ModerationItem, ModerationItem.id == HotlineReport.item_id
            )
        ).all()
        return {ref: report for report, ref in rows}


def test_a_hash_match_is_reported_preserved_and_the_account_suspended(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    _publish(client, runtime, platform_headers, cli, tmp_path)
    _deliver(runtime)
    reports = _reports(runtime)
    assert set(reports) == {"p-known"}  # the unknown image is nobody's report
    report = reports["p-known"]
    assert report.trigger == "hash_match"
    assert report.state == "sent"

    written = _report_file(runtime, report.reference)
    assert set(written) == REPORT_KEYS
    assert written["incidentSummary"]["incidentType"].startswith("Child Pornography")
    assert written["webPageIncident"]["url"] == "https://t.example/ch-pics/p-known"
    person = written["personOrUserReported"]
    assert person["espIdentifier"] == "u-up"
    assert person["phone"] == PHONE_E164
    assert [(e["ipAddress"], e["port"]) for e in person["ipCaptureEvents"]] == [(ADDRESS, 40123)]
    [upload] = written["uploadedFiles"]
    hashes = {h["algorithm"]: h["value"] for h in upload["hashes"]}
    assert hashes["SHA256"] == hash_image(KNOWN).sha256
    assert hashes["PDQ"] == hash_image(KNOWN).pdq
    assert upload["fileViewedByEsp"] is False  # nobody revealed it
    # Only the fields of the report travel: not even the post's public caption.
    assert CAPTION not in json.dumps(written)

    with transaction(runtime.engine) as session:
        [evidence] = session.execute(select(PreservedEvidence)).scalars()
        assert evidence.kind == "csam_report"
        assert evidence.id == report.evidence_id
        assert (evidence.purge_after - evidence.preserved_at).days == 365
        assert evidence.payload_ciphertext is not None
        assert KNOWN not in evidence.payload_ciphertext
        kept = preservation.read(
            session,
            evidence_id=evidence.id,
            actor="principal:test",
            purpose="hotline asked for the file",
            keys=runtime.keys,
        )
        [media] = kept["media"]  # type: ignore[misc]
        assert base64.b64decode(media["content_base64"]) == KNOWN
        [notice] = session.execute(
            select(Notice).where(Notice.kind == "account_suspended")
        ).scalars()
        assert notice.user_id == "u-up"
        assert "hotline" not in json.dumps(notice.body).lower()  # no tipping off
        actions = set(session.execute(select(AuditEntry.action)).scalars())
    assert {"hotline.report.opened", "hotline.report.sent", "hotline.account.suspended"} <= actions

    # A rescan or a moderator's confirmation does not make a second report.
    moderator = bearer(make_token(Role.MODERATOR))
    item = next(
        i
        for i in client.get("/v1/moderation/queue?source=hash", headers=moderator).json()["items"]
        if i["ref"] == "p-known"
    )
    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item["id"],
            "action": "remove_content",
            "category": "csam_indicators",
            "explanation": "Matches a hash of known material.",
            "version": item["version"],
        },
        headers=moderator,
    )
    assert decided.status_code == 201, decided.text
    assert _deliver(runtime) == 0
    assert len(_reports(runtime)) == 1
    assert _reports(runtime)["p-known"].decision_id is not None

    listed = client.get("/v1/hotline/reports", headers=moderator)
    assert listed.status_code == 200
    [row] = listed.json()["items"]
    assert row["reference"] == report.reference
    assert row["files"] == 1
    assert PHONE_E164 not in listed.text
    assert ADDRESS not in listed.text
    assert client.get("/v1/hotline/reports", headers=platform_headers).status_code == 403


def test_a_confirmed_decision_reports_what_no_bank_knew_and_purge_erases(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    _publish(client, runtime, platform_headers, cli, tmp_path)
    # Anyone may report such content, anonymously (DSA Art. 16(2)(c)).
    noticed = client.post(
        "/v1/reports",
        json={
            "target": {"kind": "post", "id": "p-new"},
            "category": "csam_indicators",
            "explanation": "This picture shows the abuse of a child.",
            "good_faith": True,
        },
    )
    assert noticed.status_code in (200, 201, 202), noticed.text
    run_worker(runtime)
    moderator = bearer(make_token(Role.MODERATOR))
    with transaction(runtime.engine, readonly=True) as session:
        item_id = session.execute(
            select(ModerationItem.id).where(ModerationItem.ref == "p-new")
        ).scalar_one()
    claimed = client.post(f"/v1/moderation/items/{item_id}/claim", headers=moderator)
    assert claimed.status_code == 200, claimed.text
    # The moderator looks at the original: an explicit step, with a reason, audited.
    [picture] = claimed.json()["media"]
    shown = client.post(
        picture["reveal_url"],
        json={"reason": "The preview is too blurred to tell the age of the person."},
        headers=moderator,
    )
    assert shown.status_code == 200
    decided = client.post(
        "/v1/moderation/decisions",
        json={
            "item_id": item_id,
            "action": "remove_content",
            "category": "csam_indicators",
            "explanation": "Sexual abuse of a child, confirmed on review.",
        },
        headers=moderator,
    )
    assert decided.status_code == 201, decided.text
    report = _reports(runtime)["p-new"]
    assert report.trigger == "decision"
    with transaction(runtime.engine, readonly=True) as session:
        # Kept, encrypted, until the report's evidence holds it.
        assert session.execute(select(ReviewMedia)).scalars().first() is not None
    _deliver(runtime)
    written = _report_file(runtime, report.reference)
    assert written["uploadedFiles"][0]["fileViewedByEsp"] is True
    assert written["uploadedFiles"][0]["matchedBanks"] == []
    with transaction(runtime.engine, readonly=True) as session:
        evidence_id = _reports(runtime)["p-new"].evidence_id
        media_ids = set(session.execute(select(ReviewMedia.media_id)).scalars())
    # Decided, so the review copy is gone; the only copy left is the preserved evidence.
    assert picture["id"] not in media_ids
    assert evidence_id is not None

    later = runtime.now() + timedelta(days=runtime.settings.csam_evidence_days, minutes=1)
    with transaction(runtime.engine) as session:
        assert preservation.purge_expired(session, now=later) >= 1
    with transaction(runtime.engine) as session:
        evidence = session.get(PreservedEvidence, evidence_id)
        assert evidence is not None
        assert evidence.payload_ciphertext is None
        assert evidence.purged_at is not None
        with pytest.raises(EvidencePurged):
            preservation.read(
                session,
                evidence_id=evidence_id,
                actor="principal:test",
                purpose="after the period",
                keys=runtime.keys,
            )


def test_the_media_is_never_shown_unblurred_without_the_explicit_step(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    make_token: Callable[..., str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    _publish(client, runtime, platform_headers, cli, tmp_path)
    moderator = bearer(make_token(Role.MODERATOR))
    [item] = client.get("/v1/moderation/queue?source=hash", headers=moderator).json()["items"]
    assert item["category"] == "csam_indicators"
    [picture] = item["media"]
    preview = client.get(picture["preview_url"], headers=moderator)
    assert preview.status_code == 200
    assert preview.content != KNOWN
    # No reason, a reason too short, a GET: each refused, and nothing audited.
    assert client.post(picture["reveal_url"], json={}, headers=moderator).status_code == 422
    short = client.post(picture["reveal_url"], json={"reason": "look"}, headers=moderator)
    assert short.status_code == 422
    assert client.get(picture["reveal_url"], headers=moderator).status_code == 405
    assert client.post(picture["reveal_url"], json={"reason": "x" * 20}).status_code == 401
    with transaction(runtime.engine, readonly=True) as session:
        revealed = session.execute(
            select(AuditEntry).where(AuditEntry.action == "moderation.media.revealed")
        ).first()
    assert revealed is None
    # The hotline list never carries the media.
    _deliver(runtime)
    listed = client.get("/v1/hotline/reports", headers=moderator)
    assert base64.b64encode(KNOWN[:48]).decode()[:40] not in listed.text


def test_a_report_carries_only_its_fields_and_a_failed_send_is_retried(
    client: TestClient,
    runtime: Runtime,
    platform_headers: dict[str, str],
    cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError):
        CyberTiplineReport.model_validate(
            {k: None for k in REPORT_KEYS} | {"privateMessages": ["hello"]}
        )
    # Private messages never reach Rempart: ingest refuses the field and stores nothing.
    refused = client.post(
        "/v1/ingest/events",
        json={
            "events": [
                event(
                    "e-dm",
                    "post.published",
                    post_id="p-dm",
                    entity_id="ch-pics",
                    text="hi",
                    visibility="private",
                )
            ]
        },
        headers=platform_headers,
    )
    assert refused.status_code == 422

    _publish(client, runtime, platform_headers, cli, tmp_path)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the hotline directory should be")
    sent = tasks.deliver(runtime, reporter=DirectoryHotline(blocked), now=runtime.now())
    assert sent == 0
    report = _reports(runtime)["p-known"]
    assert report.state == "pending"
    assert report.attempts == 1
    assert report.last_error
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(select(PreservedEvidence)).first() is None
    assert _deliver(runtime) == 1
    assert _reports(runtime)["p-known"].state == "sent"

"""One settings class for the whole service, read from ``REMPART_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REMPART_", extra="ignore")

    database_url: str = "sqlite:///var/rempart.db"
    key_file: Path = Path("var/keys.json")
    audit_head_file: Path = Path("var/audit-heads.jsonl")
    ip_retention_days: int = Field(default=365, ge=1, le=3650)
    # Inline images of public posts are kept encrypted this long for moderators to review
    # (or until decided); after that only their hashes remain.
    media_review_days: int = Field(default=14, ge=0, le=365)
    demo: bool = False
    # API tokens expire: staff (legal, moderator, admin, auditor) after this many days,
    # platforms, authorities and flaggers (machine clients) after ``service_token_days``.
    staff_token_days: int = Field(default=90, ge=1, le=3650)
    service_token_days: int = Field(default=365, ge=1, le=3650)
    # How long an enrolment or reset code works, and how long a privileged proposal waits
    # for a second admin.
    enrolment_hours: int = Field(default=72, ge=1, le=720)
    grant_proposal_hours: int = Field(default=72, ge=1, le=720)
    # How long a request waits for a lock another process holds before it is answered
    # 503 database_busy with Retry-After.
    database_lock_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Processes serving HTTP: parsing and encryption are CPU-bound, so one per core.
    web_workers: int = Field(default=2, ge=1, le=64)
    # One line per request, with the keyed hash of the client's network, never its address
    # (uvicorn's own access log is off).
    access_log: bool = True
    # How long uvicorn's supervisor waits for a web process to answer its health check
    # before killing it: generous, as a loaded machine slows every process down.
    web_healthcheck_timeout_seconds: int = Field(default=60, ge=5, le=3600)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # The log must never go more than this long with unsigned entries.
    audit_head_interval_seconds: float = Field(default=1.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # How long a claimed job stays leased: a worker killed mid-job holds it no longer.
    # Longer than any job may take, or a slow job runs twice (handlers are idempotent).
    job_lease_seconds: float = Field(default=300.0, gt=0)
    job_max_attempts: int = Field(default=6, ge=1, le=50)
    # Which offences an order may concern: terror suspects only (the policy before 2024),
    # or any criminal offence that also violates the platform's terms (since then).
    legal_policy: Literal["terrorism_only", "criminal_offences_violating_terms"] = (
        "criminal_offences_violating_terms"
    )
    order_document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Orders naming more targets than this are flagged for the reviewers' attention.
    order_many_targets: int = Field(default=10, ge=1)
    # The semantic stage (multilingual-e5-small, run offline in the worker) for the items
    # the first-stage classifier is unsure of.
    classifier_semantic: bool = True
    # Which text classifier scans (``moderation/tasks.py``): ``cascade``, the committed
    # first stage then the semantic and remote stages when enabled; ``first_stage``, the
    # fast first stage alone.
    classifier: str = "cascade"
    # Where ``rempart banks import`` reads hash banks from (``moderation/signal_types.py``):
    # ``csv``, a CSV file.
    hash_bank_source: str = "csv"
    # Threads the worker's classifier engine runs on (OpenMP, and numpy's BLAS). One leaves
    # the other cores to the web processes, whose requests wait behind a busy CPU; more
    # scan faster on a machine with cores to spare.
    worker_classifier_threads: int = Field(default=1, ge=1, le=256)
    # On SQLite, how long each of the worker's write transactions may wait while a request
    # waits for the write lock (API writes first); 0 turns the courtesy off.
    worker_write_yield_seconds: float = Field(default=1.0, ge=0, le=30)
    # An OpenAI-compatible endpoint serving a safety model, asked about the items the
    # earlier stages are unsure of. Off when unset.
    classifier_remote_url: str | None = None
    classifier_remote_model: str = Field(default="safety-model", min_length=1, max_length=64)
    classifier_remote_token: str | None = None
    classifier_remote_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Notices (reports): public links to entities and posts look like {base}/{entity} and
    # {base}/{entity}/{post}.
    public_link_base: str = "https://t.example"
    # Where the public reaches Rempart: appeal links in notices point here.
    public_url: str = "http://127.0.0.1:8000"
    # Public notices per network prefix (/24, /48) and window.
    report_rate_limit: int = Field(default=30, ge=1)
    # Anonymous reads (search, transparency, audit heads and proofs) per network (/24, /48)
    # per minute and web process.
    public_reads_per_minute: int = Field(default=600, ge=1)
    report_rate_window_seconds: int = Field(default=600, ge=1)
    # Art. 23: manifestly unfounded notices before a warning, then before the processing
    # of a reporter's notices is suspended, and for how long.
    reporter_warn_after: int = Field(default=3, ge=1)
    reporter_suspend_after: int = Field(default=5, ge=1)
    reporter_suspension_days: int = Field(default=30, ge=1)
    # Art. 23 for accounts whose public content is manifestly illegal.
    account_warn_after: int = Field(default=2, ge=1)
    account_suspend_after: int = Field(default=3, ge=1)
    account_suspension_days: int = Field(default=30, ge=1)
    # Art. 23(2) for complaints: complaints marked manifestly unfounded within the window
    # before a warning; after it, one more suspends the processing of that complainant's
    # complaints for this many days.
    complainant_warn_after: int = Field(default=2, ge=1)
    complainant_window_days: int = Field(default=180, ge=1)
    complainant_suspension_days: int = Field(default=30, ge=1)
    # Art. 20: how long after a decision it may be appealed.
    appeal_window_days: int = Field(default=183, ge=1)
    # A case whose raid score reaches this is marked as a suspected raid.
    raid_threshold: float = Field(default=0.6, gt=0, le=1)
    # The DSA Transparency Database API (e.g. https://transparency.dsa.ec.europa.eu/api/v1)
    # and the platform's token for it; `rempart dsa submit` sends statements there.
    dsa_endpoint: str | None = None
    dsa_token: str | None = None
    # Who publishes the DSA report, as its templates (Implementing Regulation (EU)
    # 2024/2835) name them: the provider's statutory name and the service's name.
    dsa_provider_name: str = ""
    dsa_service_name: str = ""
    # How statements reach the database: its API (above), or batch files written to
    # ``dsa_directory`` for the platform to upload by other means.
    # A port's setting names an implementation registered for it (``core/ports.py``); a
    # name nobody registered stops the process at start.
    dsa_client: str = "http"
    dsa_directory: Path = Path("var/dsa-statements")
    # The local outbox where user notifications go when no other notifier is configured.
    notification_outbox: Path = Path("var/notifications-outbox.jsonl")
    # DSA Art. 18 notifications to law enforcement (threats to life or safety) go here when
    # no other channel is wired: a file of its own, as it holds personal data that the
    # platform's tailer of user notices must never see.
    authority_outbox: Path = Path("var/authority-outbox.jsonl")
    # The Member State where the provider is established, or where its legal
    # representative resides or is established (ISO 3166 alpha-2). DSA Art. 18(2): when
    # the Member State concerned by a threat to life cannot be determined, its law
    # enforcement is informed, with Europol; unset, Europol alone.
    establishment_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    # How messages to users and authorities leave: appended to the outbox files above, or
    # posted to the platform's webhook, signed (HMAC-SHA256 over timestamp and body, header
    # ``Rempart-Signature``), retried by the worker with exponential backoff, and kept as
    # dead letters after the last attempt (``rempart notify replay ID``).
    notifier: Literal["outbox", "webhook"] = "outbox"
    notify_webhook_url: str | None = None
    # Art. 18 notifications carry personal data: they go to this endpoint (the platform's
    # law-enforcement liaison), or stay in the authority outbox when it is unset.
    notify_authority_webhook_url: str | None = None
    notify_webhook_secret: SecretStr | None = None
    notify_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # The first retry waits this long, each next one twice as long, up to the maximum.
    notify_webhook_backoff_seconds: float = Field(default=30.0, gt=0)
    notify_webhook_max_backoff_seconds: float = Field(default=6 * 3600.0, gt=0)
    # Where the local hotline port writes child sexual abuse reports (one JSON file each,
    # in the fields of NCMEC's CyberTipline report), for the platform to forward.
    hotline_directory: Path = Path("var/hotline-reports")
    # Which hotline port sends them (``hotline/reporter.py``): ``directory``, the files above.
    hotline_reporter: str = "directory"
    # How long the evidence behind a hotline report is kept, encrypted, before it is
    # purged: 1 year, as 18 U.S.C. 2258A(h) requires of US providers (extended from 90
    # days in 2024) and as the EU interim regulation's practice keeps it.
    csam_evidence_days: int = Field(default=365, ge=90, le=3650)
    # Who reports, as the hotline's "reporting person" (the provider, not a moderator).
    hotline_reporter_company: str = "The platform's trust and safety team"
    hotline_reporter_email: str = "trust-and-safety@example.org"
    # How decisions reach the platform (``rempart.platform.actions``): ``local`` records
    # each action for the platform to read; ``matrix`` also carries them out on the Matrix
    # homeserver below, and is the choice when a homeserver is set and this is not.
    platform: Literal["local", "matrix"] = "local"
    # A Matrix homeserver (Synapse) to sync from and act on, with a server admin's token.
    # Unset: the platform pushes its events to the ingest API instead.
    matrix_homeserver_url: str | None = None
    matrix_admin_token: SecretStr | None = None
    matrix_sync_seconds: float = Field(default=30.0, gt=0)
    matrix_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Images in public rooms up to this size are fetched for hash matching.
    matrix_media_max_bytes: int = Field(default=5 * 1024 * 1024, ge=0, le=5 * 1024 * 1024)
    # Commands (``!appeal``) per Matrix user and window in Rempart's rooms; past it, the
    # user is told once per window and the rest are read and dropped.
    matrix_command_rate_limit: int = Field(default=10, ge=1)
    matrix_command_rate_window_seconds: int = Field(default=3600, ge=1)

    @model_validator(mode="after")
    def _matrix_needs_a_token(self) -> Settings:
        token = self.matrix_admin_token
        # A blank token would pass for one and fail only at the first call, as a transport
        # error; it is no token.
        if self.matrix_homeserver_url and (token is None or not token.get_secret_value().strip()):
            raise ValueError(
                "matrix_not_configured: REMPART_MATRIX_ADMIN_TOKEN (a Synapse server admin's "
                "access token) is required when REMPART_MATRIX_HOMESERVER_URL is set"
            )
        return self

    @model_validator(mode="after")
    def _platform_matrix_needs_a_homeserver(self) -> Settings:
        if "platform" not in self.model_fields_set and self.matrix_homeserver_url:
            self.platform = "matrix"
        if self.platform == "matrix" and not self.matrix_homeserver_url:
            raise ValueError(
                "platform_not_configured: REMPART_PLATFORM=matrix needs "
                "REMPART_MATRIX_HOMESERVER_URL and REMPART_MATRIX_ADMIN_TOKEN"
            )
        return self

    @model_validator(mode="after")
    def _webhook_needs_a_url_and_secret(self) -> Settings:
        secret = self.notify_webhook_secret
        if self.notifier == "webhook" and (
            not self.notify_webhook_url or secret is None or len(secret.get_secret_value()) < 16
        ):
            raise ValueError(
                "notifier_not_configured: REMPART_NOTIFIER=webhook needs "
                "REMPART_NOTIFY_WEBHOOK_URL and REMPART_NOTIFY_WEBHOOK_SECRET (16 characters "
                "or more)"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()

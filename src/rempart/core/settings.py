"""One settings class for the whole service, read from ``REMPART_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REMPART_", extra="ignore")

    database_url: str = "sqlite:///var/rempart.db"
    key_file: Path = Path("var/keys.json")
    audit_head_file: Path = Path("var/audit-heads.jsonl")
    ip_retention_days: int = Field(default=365, ge=1, le=3650)
    demo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Processes serving HTTP: parsing and encryption are CPU-bound, so one per core.
    web_workers: int = Field(default=2, ge=1, le=64)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # The log must never go more than this long with unsigned entries.
    audit_head_interval_seconds: float = Field(default=1.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # How long a claimed job stays leased: a worker killed mid-job holds it no longer.
    # Longer than any job may take, or a slow job runs twice (handlers are idempotent).
    job_lease_seconds: float = Field(default=300.0, gt=0)
    job_max_attempts: int = Field(default=6, ge=1, le=50)


@lru_cache
def get_settings() -> Settings:
    return Settings()

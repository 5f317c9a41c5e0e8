"""A hotline report in the fields of NCMEC's CyberTipline report (its ``report`` XML
schema: reporter, incident summary, internet details, reported person, uploaded files),
as structured JSON. Every model forbids extra fields: the report is built field by field
from public records and account data, so nothing else (private-message content above all)
can ride along."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

INCIDENT_TYPE = "Child Pornography (possession, manufacture, and distribution)"


class HotlineState(StrEnum):
    """A report waits (and is retried) until the hotline acknowledged it."""

    PENDING = "pending"
    SENT = "sent"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportingPerson(Strict):
    companyName: str  # noqa: N815 - CyberTipline field names
    email: str


class IncidentSummary(Strict):
    incidentType: str  # noqa: N815
    incidentDateTime: datetime  # noqa: N815
    reportAnnotations: list[str]  # noqa: N815


class WebPageIncident(Strict):
    url: str
    # The public channel or group the content was posted in.
    entityId: str  # noqa: N815
    entityTitle: str | None  # noqa: N815
    publiclyAvailable: bool  # noqa: N815


class IpCaptureEvent(Strict):
    ipAddress: str  # noqa: N815
    port: int | None
    eventName: str  # noqa: N815
    dateTime: datetime  # noqa: N815


class ReportedPerson(Strict):
    espIdentifier: str  # noqa: N815
    screenName: str | None  # noqa: N815
    phone: str | None
    phoneCountry: str | None  # noqa: N815
    accountCreated: datetime | None  # noqa: N815
    ipCaptureEvents: list[IpCaptureEvent]  # noqa: N815


class FileHash(Strict):
    algorithm: str
    value: str


class UploadedFile(Strict):
    fileId: str  # noqa: N815
    # The public post the file was published in (a report about a channel or an account
    # carries files of several posts).
    locationOfFile: str  # noqa: N815
    hashes: list[FileHash]
    # Whether a person at the platform looked at the file itself (a moderator's audited
    # reveal), not only at its blurred preview or its hash.
    fileViewedByEsp: bool  # noqa: N815
    publiclyAvailable: bool  # noqa: N815
    # The bank matches behind the report, when it came from one.
    matchedBanks: list[str]  # noqa: N815


class CyberTiplineReport(Strict):
    reference: str
    reporter: ReportingPerson
    incidentSummary: IncidentSummary  # noqa: N815
    webPageIncident: WebPageIncident  # noqa: N815
    personOrUserReported: ReportedPerson | None  # noqa: N815
    uploadedFiles: list[UploadedFile]  # noqa: N815


class HotlineReportRead(BaseModel):
    """What the console and the API list: no media, no personal data."""

    reference: str
    item_id: int
    item: str
    trigger: str
    state: HotlineState
    attempts: int
    last_error: str | None
    receipt: str | None
    evidence_id: int | None
    files: int
    created_at: datetime
    sent_at: datetime | None
    # The account was suspended when the report went, with no end date: when a person
    # looks at the suspension again.
    suspension_review_at: datetime | None


class HotlineReportPage(BaseModel):
    items: list[HotlineReportRead]
    total: int

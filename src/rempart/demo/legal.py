"""The legal part of `rempart demo seed`: synthetic authorities with keys in the demo key
folder, and orders in every state, filed and decided through the same service functions
as real ones, with the clock moved back so that deadlines and quarters look real.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.auth import enrolment
from rempart.auth import service as auth_service
from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal import (
    authorities,
    callbacks,
    followups,
    jws,
    protection,
    reads,
    service,
    tasks,
)
from rempart.legal.schemas import (
    AuthorityCreate,
    AuthorityKeyCreate,
    AuthorityKind,
    CallbackCreate,
    CallbackOutcome,
    ChecklistAnswer,
    ChecklistItem,
    EmergencyGround,
    ProtectionCategory,
    RefusalGround,
    ReviewCreate,
    ReviewDecision,
)
from rempart.legal.validations import COUNTERSIGNATURE_TYPE
from rempart.platform.models import Account

DEMO_ACTOR = "system:demo"


@dataclass(frozen=True)
class DemoAuthority:
    code: str
    name: str
    country: str
    kind: AuthorityKind
    parent: str | None = None
    verified: bool = True


AUTHORITIES = [
    DemoAuthority(
        "fr-tj-paris",
        "Tribunal judiciaire de Paris, juge d'instruction (démo)",
        "FR",
        AuthorityKind.INVESTIGATING_JUDGE,
    ),
    DemoAuthority(
        "fr-parquet-paris",
        "Parquet de Paris, section cybercriminalité (démo)",
        "FR",
        AuthorityKind.PROSECUTOR,
    ),
    DemoAuthority(
        "fr-ofac",
        "Office anti-cybercriminalité (démo)",
        "FR",
        AuthorityKind.POLICE,
        parent="fr-parquet-paris",
    ),
    DemoAuthority(
        "be-parquet-bruxelles", "Parquet de Bruxelles (démo)", "BE", AuthorityKind.PROSECUTOR
    ),
    DemoAuthority(
        "de-ag-tiergarten", "Amtsgericht Tiergarten, Berlin (Demo)", "DE", AuthorityKind.COURT
    ),
    DemoAuthority(
        "es-jci-madrid",
        "Juzgado Central de Instrucción, Madrid (demo)",
        "ES",
        AuthorityKind.INVESTIGATING_JUDGE,
        verified=False,
    ),
]

OFFENCES = {
    "fraud": ("Escroquerie en bande organisée par faux placements en cryptoactifs.", 10),
    "drug_trafficking": ("Offre et cession de stupéfiants via un canal public.", 10),
    "cybercrime": ("Accès frauduleux à un système de traitement automatisé de données.", 5),
    "hate_crime": ("Provocation publique à la haine en raison de l'origine.", 1),
    "threats": ("Menaces de mort réitérées contre un élu.", 3),
    "terrorism": ("Apologie publique d'actes de terrorisme et menace d'attentat.", 7),
    "child_sexual_abuse": ("Sollicitation de mineurs à des fins sexuelles.", 10),
}


@dataclass
class Scenario:
    authority: str
    days_ago: float
    offence: str
    outcome: str  # received | one_approval | approved | disclosed | refused | withdrawn
    categories: tuple[str, ...] = ("subscriber_data", "identification_data")
    target_kind: str = "user_id"
    emergency: bool = False
    order_type: str = "production"
    validating: str | None = None
    confidential_days: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


SCENARIOS = [
    # Older quarters, so that transparency reports have a trend.
    *(
        Scenario(code, days, offence, "disclosed")
        for code, days, offence in [
            ("fr-tj-paris", 300, "fraud"),
            ("fr-tj-paris", 250, "drug_trafficking"),
            ("be-parquet-bruxelles", 240, "cybercrime"),
            ("fr-parquet-paris", 200, "threats"),
            ("de-ag-tiergarten", 170, "fraud"),
            ("fr-tj-paris", 130, "terrorism"),
            ("be-parquet-bruxelles", 110, "drug_trafficking"),
        ]
    ),
    # A busier quarter (the third of the year), with enough orders per country that the
    # transparency report shows figures rather than "<5".
    *(
        Scenario(code, days, offence, outcome)
        for code, days, offence, outcome in [
            ("fr-tj-paris", 140, "fraud", "disclosed"),
            ("fr-parquet-paris", 132, "drug_trafficking", "disclosed"),
            ("fr-tj-paris", 121, "cybercrime", "disclosed"),
            ("fr-parquet-paris", 112, "fraud", "refused"),
            ("fr-tj-paris", 104, "threats", "disclosed"),
            ("fr-tj-paris", 96, "drug_trafficking", "disclosed"),
            ("fr-parquet-paris", 88, "fraud", "disclosed"),
            ("fr-tj-paris", 80, "terrorism", "refused"),
            ("de-ag-tiergarten", 138, "fraud", "disclosed"),
            ("de-ag-tiergarten", 117, "cybercrime", "disclosed"),
            ("de-ag-tiergarten", 101, "fraud", "disclosed"),
            ("de-ag-tiergarten", 92, "drug_trafficking", "disclosed"),
            ("de-ag-tiergarten", 84, "fraud", "refused"),
        ]
    ),
    Scenario("fr-tj-paris", 75, "fraud", "disclosed"),
    Scenario(
        "fr-tj-paris",
        50,
        "drug_trafficking",
        "disclosed",
        ("subscriber_data", "identification_data"),
        target_kind="username",
        confidential_days=60,
    ),
    Scenario("be-parquet-bruxelles", 20, "cybercrime", "disclosed", target_kind="phone_number"),
    Scenario("de-ag-tiergarten", 6, "fraud", "approved", ("content_data", "identification_data")),
    Scenario("fr-parquet-paris", 9, "hate_crime", "refused"),
    Scenario(
        "fr-ofac",
        3,
        "cybercrime",
        "one_approval",
        validating="fr-parquet-paris",
        extra={"protected": True},
    ),
    Scenario("fr-ofac", 2 / 24, "terrorism", "approved", emergency=True),
    Scenario("be-parquet-bruxelles", 12, "fraud", "received"),
    Scenario("de-ag-tiergarten", 10, "child_sexual_abuse", "received", order_type="preservation"),
    Scenario("fr-tj-paris", 8, "threats", "withdrawn"),
    Scenario("es-jci-madrid", 4, "fraud", "received"),
    Scenario("fr-parquet-paris", 1 / 24, "fraud", "received"),
    Scenario("de-ag-tiergarten", 5, "fraud", "received", ("content_data",)),
]


class _ShiftedClock:
    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset


@contextmanager
def _days_ago(rt: Runtime, days: float) -> Iterator[Runtime]:
    """A runtime whose clock says it is ``days`` ago, to run service code in: deadlines and
    quarters come out real."""
    yield replace(rt, clock=_ShiftedClock(timedelta(days=days)))


def key_folder(rt: Runtime) -> Path:
    return rt.settings.key_file.parent / "demo-authority-keys"


def demo_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a few lines of text: the order document an authority attaches."""
    text = "\n".join(
        f"BT /F1 11 Tf 56 {780 - 18 * i} Td ({_pdf_text(line)}) Tj ET"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_text(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _register(rt: Runtime, session: Session) -> dict[str, tuple[str, dict[str, Any]]]:
    """Authorities with their private keys (kept in the demo key folder) and tokens."""
    folder = key_folder(rt)
    folder.mkdir(parents=True, exist_ok=True)
    registered: dict[str, tuple[str, dict[str, Any]]] = {}
    for demo in AUTHORITIES:
        private = jws.generate_private_jwk(f"{demo.code}-2026")
        created = authorities.add_authority(
            session,
            data=AuthorityCreate(
                code=demo.code,
                name=demo.name,
                country=demo.country,
                kind=demo.kind,
                parent=demo.parent,
                contact=f"greffe@{demo.code}.demo.invalid",
                keys=[AuthorityKeyCreate(jwk=jws.public_jwk(private))],
                verified=demo.verified,
            ),
            actor=DEMO_ACTOR,
            settings=rt.settings,
            # The demo installs itself: nobody to be a second admin.
            bootstrap=True,
        )
        path = folder / f"{demo.code}.jwk"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(private, handle, indent=2)
        # The enrolment code for now; seed_legal redeems it at the real time.
        registered[demo.code] = (created.enrolment.code, private)
    return registered


def _redeem(rt: Runtime, registered: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """The demo authorities enrol for their own tokens, at the real time: the codes
    issued at registration (in the past) have expired since."""
    with transaction(rt.engine) as session:
        for code, (_, private) in list(registered.items()):
            principal = auth_service.by_name(session, name=f"authority:{code}")
            assert principal is not None  # registered above
            issued = enrolment.issue_code(
                session,
                principal=principal,
                purpose=enrolment.ENROL,
                lifetime=timedelta(hours=1),
                actor=DEMO_ACTOR,
            )
            token = enrolment.redeem_for_token(session, code=issued.code, settings=rt.settings)
            registered[code] = (token.token, private)


def _caller(session: Session, *, name: str) -> Caller:
    principal = session.execute(select(Principal).where(Principal.name == name)).scalar_one()
    return Caller(principal_id=principal.id, name=principal.name, role=Role(principal.role))


def _targets(session: Session, rt: Runtime, count: int) -> list[tuple[str, str, str]]:
    """(user id, username, phone) of demo accounts that have all three."""
    rows = session.execute(
        select(Account.user_id, Account.username, Account.phone_ciphertext)
        .where(Account.phone_ciphertext.is_not(None), Account.username.is_not(None))
        # The oldest accounts: they existed during every demo order's period.
        .order_by(Account.registered_at, Account.user_id)
        .limit(count)
    ).all()
    return [
        (user_id, username or "", rt.keys.decrypt(blob, purpose="phone"))
        for user_id, username, blob in rows
        if blob is not None
    ]


def _checklist(
    answer: ChecklistAnswer = ChecklistAnswer.YES,
) -> dict[ChecklistItem, ChecklistAnswer]:
    return dict.fromkeys(ChecklistItem, answer)


def seed_legal(rt: Runtime) -> dict[str, str]:
    """File the demo orders; returns the authority principals' tokens by principal name."""
    rng = random.Random(8_3)
    # Registered before the oldest order, so that their keys were valid when it was signed.
    oldest = max(s.days_ago for s in SCENARIOS) + 30
    with _days_ago(rt, oldest) as past, transaction(past.engine) as session:
        registered = _register(past, session)
        targets = _targets(session, past, len(SCENARIOS) + 5)
    _redeem(rt, registered)
    if not targets:
        return {f"authority:{code}": token for code, (token, _) in registered.items()}
    for index, scenario in enumerate(SCENARIOS):
        user_id, username, phone = targets[index % len(targets)]
        value = {"user_id": user_id, "username": username, "phone_number": phone}[
            scenario.target_kind
        ]
        _file(rt, scenario, registered, value=value, user_id=user_id, rng=rng)
    with transaction(rt.engine) as session:
        tasks.run_deadlines(session, rt)
    return {f"authority:{code}": token for code, (token, _) in registered.items()}


def _file(
    rt: Runtime,
    scenario: Scenario,
    registered: dict[str, tuple[str, dict[str, Any]]],
    *,
    value: str,
    user_id: str,
    rng: random.Random,
) -> None:
    _token, private = registered[scenario.authority]
    description, penalty = OFFENCES[scenario.offence]
    with _days_ago(rt, scenario.days_ago) as past:
        now = past.now()
        period_end = now - timedelta(days=rng.randint(3, 20))
        claims: dict[str, Any] = {
            "iss": scenario.authority,
            "iat": int(now.timestamp()) - 60,
            "exp": int((now + timedelta(days=7)).timestamp()),
            "jti": uuid.uuid4().hex,
            "order_type": scenario.order_type,
            "case_reference": f"{scenario.authority.upper()}-{now:%Y}-{rng.randint(100, 999)}",
            "legal_basis": "Règlement (UE) 2023/1543, art. 5; code de procédure pénale",
            "offence": {
                "category": scenario.offence,
                "description": description,
                "max_penalty_years": penalty,
                "violates_terms": True,
            },
            "targets": [{"kind": scenario.target_kind, "value": value}],
            "data_categories": list(scenario.categories),
            "period": {
                "start": (period_end - timedelta(days=rng.randint(20, 90))).isoformat(),
                "end": period_end.isoformat(),
            },
            "emergency": scenario.emergency,
        }
        if scenario.emergency:
            claims["emergency_ground"] = EmergencyGround.THREAT_TO_LIFE.value
            claims["emergency_justification"] = (
                "Menace d'attentat imminente signalée sur un canal public."
            )
        if scenario.confidential_days:
            claims["confidential_until"] = (
                (now + timedelta(days=scenario.confidential_days)).date().isoformat()
            )
        document = demo_pdf(
            [
                "DEMONSTRATION - document fictif / fictitious document",
                f"Autorite: {scenario.authority}",
                f"Affaire: {claims['case_reference']}",
                "Requisition aux fins de communication de donnees (e-Evidence, art. 5)",
            ]
        )
        claims["document"] = {
            "sha256": hashlib.sha256(document).hexdigest(),
            "filename": "requisition.pdf",
        }
        if scenario.validating:
            # The prosecutor signs the police order itself, as a real validation would.
            claims["validating_authority"] = scenario.validating
            claims["validation"] = jws.sign(
                {
                    "iss": scenario.validating,
                    "iat": claims["iat"],
                    "exp": claims["exp"],
                    "jti": uuid.uuid4().hex,
                    "countersigns": {
                        "iss": scenario.authority,
                        "jti": claims["jti"],
                        "document_sha256": claims["document"]["sha256"],
                    },
                },
                private_jwk=registered[scenario.validating][1],
                typ=COUNTERSIGNATURE_TYPE,
            )
        signed = jws.sign(claims, private_jwk=private, typ="rempart-order+jwt")
        with transaction(past.engine) as session:
            if scenario.extra.get("protected"):
                protection.mark(
                    session, user_id=user_id, category=ProtectionCategory.PRESS, actor=DEMO_ACTOR
                )
            authority = authorities.by_code(session, code=scenario.authority)
            assert authority is not None
            assert authority.principal_id is not None
            caller = Caller(
                principal_id=authority.principal_id,
                name=f"authority:{scenario.authority}",
                role=Role.AUTHORITY,
            )
        reference = service.submit_order(
            past, caller=caller, token=signed, document=document
        ).reference
    _decide(rt, scenario, reference)


def _decide(rt: Runtime, scenario: Scenario, reference: str) -> None:
    # Decisions come a few hours to a few days after receipt, as in a real legal team.
    steps = {
        "one_approval": 1,
        "approved": 2,
        "disclosed": 2,
        "refused": 1,
    }
    if scenario.outcome == "withdrawn":
        with _days_ago(rt, scenario.days_ago - 1) as past, transaction(past.engine) as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            followups.withdraw(session, order=order, actor=f"authority:{scenario.authority}")
        return
    reviewers = ["demo-legal-1", "demo-legal-2"][: steps.get(scenario.outcome, 0)]
    if scenario.emergency:
        reviewers = reviewers[:1]
    for position, name in enumerate(reviewers):
        delay = min(scenario.days_ago * 0.5, 2.0) * (position + 1) / 2
        with _days_ago(rt, scenario.days_ago - delay) as past, transaction(past.engine) as session:
            refusing = scenario.outcome == "refused"
            service.review_order(
                session,
                reference=reference,
                caller=_caller(session, name=name),
                data=ReviewCreate(
                    decision=ReviewDecision.REFUSE if refusing else ReviewDecision.APPROVE,
                    checklist={
                        **_checklist(),
                        ChecklistItem.TARGET_IS_SUSPECT: (
                            ChecklistAnswer.NO if refusing else ChecklistAnswer.YES
                        ),
                    },
                    reasons=(
                        "L'ordonnance ne montre pas que la personne visée est suspecte : "
                        "elle n'apparaît que comme abonnée au canal."
                        if refusing
                        else "Ordonnance complète, autorité compétente, mesure proportionnée."
                    ),
                    refusal_grounds=[RefusalGround.NOT_A_SUSPECT] if refusing else [],
                ),
            )
    if scenario.outcome == "disclosed":
        days = max(scenario.days_ago - 3, 0)
        with _days_ago(rt, days) as past:
            with transaction(past.engine) as session:
                order = reads.get_order(session, reference=reference, authority_id=None)
                releaser = _caller(session, name="demo-legal-1")
                if callbacks.reasons_for_callback(order):
                    callbacks.record(
                        session,
                        order=order,
                        caller=releaser,
                        data=CallbackCreate(
                            called_at=past.now(),
                            person_reached="Greffier de permanence",
                            outcome=CallbackOutcome.CONFIRMED,
                            notes="Référence et numéro d'affaire confirmés au numéro du registre.",
                        ),
                    )
            service.release_disclosure(past, reference=reference, caller=releaser)

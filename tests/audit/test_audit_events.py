"""Typed audit events: the figures and the public dataset read what the domains write.

The domains record pydantic events; the transparency figures (standard library only, so
that the standalone verifier carries them) declare the keys they read as TypedDicts.
These tests tie the two: a field renamed on one side fails here, not as a published 0.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import rempart
from rempart.audit.codec import canonical_json, entry_timestamp
from rempart.audit.events import EVENTS, AuditEvent, entry_keys, parse, person_fields
from rempart.escalations import events as escalations
from rempart.legal import events as legal
from rempart.moderation import events as moderation
from rempart.platform import events as platform
from rempart.reports import events as reports
from rempart.transparency import dataset, figures
from rempart.transparency.figures import Log, Period, quarter

SRC = Path(rempart.__file__).parent
QUARTER = quarter(2026, 2)


def _import_every_events_module() -> None:
    for module in pkgutil.walk_packages([str(SRC)], prefix="rempart."):
        if module.name.endswith(".events"):
            importlib.import_module(module.name)


_import_every_events_module()


def _person_keys(model: type[AuditEvent]) -> set[str]:
    fields = model.model_fields
    return {fields[name].serialization_alias or name for name in person_fields(model)}


def test_every_action_the_figures_read_has_a_model_holding_the_keys_they_read() -> None:
    assert set(figures.RELEVANT) == set(figures.DETAILS)
    for action, read in figures.DETAILS.items():
        model = EVENTS.get(action)
        assert model is not None, f"no event model for {action}"
        assert set(read.__annotations__) <= entry_keys(model), action


def test_the_figures_read_details_only_through_those_declarations() -> None:
    """Every key figures.py reads is declared for what it reads it from (a cast to one of
    the TypedDicts above), and no entry's details are read without one."""
    tree = ast.parse((SRC / "transparency" / "figures.py").read_text())
    declared: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "cast"
        ):
            shape = getattr(figures, ast.unparse(node.value.args[0]))
            for target in node.targets:
                declared[ast.unparse(target)] = set(shape.__annotations__)
    reads = 0
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            owner = ast.unparse(node.func.value)
            assert owner != "details", f"untyped read of {node.args[0].value!r}"
            if owner in declared:
                assert node.args[0].value in declared[owner], (owner, node.args[0].value)
                reads += 1
    assert reads >= 20


def test_the_public_dataset_keeps_event_fields_and_pseudonymises_the_personal_ones() -> None:
    assert set(dataset.FIELDS) == set(figures.RELEVANT)
    for action, (kept, hidden) in dataset.FIELDS.items():
        model = EVENTS[action]
        assert set(kept) | set(hidden) <= entry_keys(model), action
        # A field that names a person is never published as it is.
        assert set(hidden) == _person_keys(model), action


def test_events_keep_the_keys_of_the_entries_already_written() -> None:
    changed = legal.AuthorityStatusChanged(from_="pending", to="verified")
    assert changed.details() == {"from": "pending", "to": "verified"}
    decision = moderation.DecisionTaken(
        action_taken="remove",
        category="hate",
        ground_type="terms",
        automation="none",
        statement=None,
        appeals=0,
        new_facts=None,
        preset=None,
    )
    assert decision.details()["action"] == "remove"
    assert decision.action == "moderation.decision"
    # Keys the old dicts wrote only when set are still left out when unset.
    checked = legal.OrderChecked(status="checks_passed", checks={"signature": "passed"})
    assert checked.details() == {"status": "checks_passed", "checks": {"signature": "passed"}}
    assert reports.AccountWarned().details() == {}
    # Read back: old entries, with keys a model no longer declares, still parse.
    assert parse("legal.authority.status", {"from": "pending", "to": "verified"}) == changed
    old = {"decision": 7, "appeals": ["A-1"], "outcomes": {"upheld": 1}, "retired": True}
    assert parse("reports.appeal.decided", old) == reports.AppealDecided(
        appeal=None, outcome=None, decision=7, appeals=["A-1"], outcomes={"upheld": 1}
    )
    assert parse("test.unknown", {"x": 1}) is None


def test_a_misspelt_or_mistyped_field_fails_when_the_event_is_built() -> None:
    with pytest.raises(ValidationError):
        legal.OrderWithdrawn(reason="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        platform.MediaHashed(hashed="many")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="share the action"):
        type("Twin", (AuditEvent,), {"__annotations__": {}, "action": "legal.order.read"})


def test_the_domains_record_typed_events_only() -> None:
    for path in SRC.rglob("*.py"):
        if path.parent.name == "audit":
            continue
        assert "record_untyped" not in path.read_text(), path


# -- figures computed from events built with the domains' models -------------------------


class _Entries:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.at = QUARTER.start + timedelta(days=1)

    def add(self, event: AuditEvent, *, target: str = "", country: str | None = None) -> None:
        """The body ``audit.record`` writes for ``event``, as the figures read it."""
        self.at += timedelta(hours=1)
        body = {
            "v": 1,
            "seq": len(self.bodies),
            "ts": entry_timestamp(self.at),
            "actor": "test",
            "action": event.action,
            "target": target or None,
            "country": country,
            "details": event.details(),
        }
        self.bodies.append(json.loads(canonical_json(body)))

    def log(self) -> Log:
        log = Log()
        for body in self.bodies:
            log.add(body)
        return log


def _order(
    entries: _Entries, reference: str, country: str, *, status: str, users: list[str]
) -> None:
    target = f"order:{reference}"
    entries.add(
        legal.OrderReceived(
            authority="court",
            kid="k1",
            order_type="production",
            offence_category="fraud",
            categories=["phone_number", "ip_addresses"],
            emergency=False,
            document_sha256=None,
            targets=len(users),
        ),
        target=target,
        country=country,
    )
    entries.add(
        legal.OrderDecided(
            status=status,
            category_outcomes={"phone_number": "approved", "ip_addresses": "refused"},
        ),
        target=target,
        country=country,
    )
    if users:
        entries.add(
            legal.DisclosureReleased(
                sha256="00" * 32,
                fields=["phone_number"],
                accounts=len(users) * 2,
                users=users,
                ip_records=0,
                notification_due_at=entries.at.isoformat(),
            ),
            target=target,
            country=country,
        )


def test_lawful_disclosure_figures_from_model_built_events() -> None:
    """Partially approved orders count as partially fulfilled in the per-country table
    and in the trend alike; users affected are distinct per country and period."""
    entries = _Entries()
    _order(entries, "FR-1", "FR", status="partially_approved", users=["u1", "u2"])
    _order(entries, "FR-2", "FR", status="approved", users=["u2"])
    _order(entries, "FR-3", "FR", status="refused", users=[])
    _order(entries, "DE-1", "DE", status="approved", users=["u2", "u3"])
    entries.add(legal.OrderWithdrawn(), target="order:FR-3")  # after its refusal: no effect
    result = figures.lawful_disclosure(entries.log(), QUARTER)

    france, germany = result["countries"]["FR"], result["countries"]["DE"]
    assert (france["fulfilled"], france["partially_fulfilled"]) == (1, 1)
    assert france["withdrawn"] == 1
    assert france["refused"] == 0
    assert france["users_affected"] == 2  # u1 and u2, u2 disclosed twice
    assert germany["users_affected"] == 2
    assert result["total"]["users_affected"] == 3
    assert france["by_data_category"]["phone_number"] == {"requested": 3, "disclosed": 2}
    assert france["by_offence"] == {"fraud": 3}
    [row] = [r for r in result["trend"] if r["period"] == QUARTER.name]
    assert (row["fulfilled"], row["partially_fulfilled"]) == (2, 1)
    assert row["users_affected"] == 3
    # The next quarter's users are counted in their own period.
    later = Period("next", QUARTER.end, QUARTER.end + timedelta(days=90))
    assert figures.lawful_disclosure(entries.log(), later)["total"]["users_affected"] == 0


def test_dsa_figures_from_model_built_events() -> None:
    entries = _Entries()
    item = "post:p1"
    entries.add(
        reports.NoticesReceived(
            case=1,
            received=3,
            tracking_ids=["N-1", "N-2", "N-3"],
            by_category={"hate": 2, "spam": 1},
            by_channel={"flagger": 1, "form": 2},
        ),
        target=item,
    )
    entries.add(
        moderation.DecisionTaken(
            action_taken="remove",
            category="hate",
            ground_type="illegal",
            automation="none",
            statement="S-1",
            appeals=0,
            new_facts=None,
            preset=None,
        ),
        target=item,
    )
    entries.add(
        moderation.ItemRestricted(
            category="spam",
            ground_type="terms",
            score=0.99,
            automated=True,
            model_version="v1",
            signals=["ngram"],
        ),
        target="post:p2",
    )
    entries.add(reports.AppealFiled(appeal="A-1", decision=1, party="owner"), target=item)
    entries.add(reports.AppealDecided(appeal="A-1", outcome="reversed", decision=2))
    entries.add(reports.DisputeSubmitted(dispute="D-1", settlement_body="ODS"))
    entries.add(reports.DisputeDecided(dispute="D-1", outcome="upheld", implemented=True))
    entries.add(reports.AccountSuspended(until=entries.at.isoformat()), target="user:u1")
    entries.add(
        platform.ActiveRecipientsCounted(
            month="2026-04", recipients=1200, outside_or_unknown=3, by_member_state={"FR": 1200}
        )
    )
    entries.add(
        escalations.NotificationSent(recipient="police", member_state="FR", hours_to_send=2.5),
        country="FR",
    )
    result = figures.dsa(entries.log(), QUARTER)

    assert result["notices"]["by_category"] == {"hate": 2, "spam": 1}
    assert result["notices"]["from_trusted_flaggers"] == 1
    assert result["actions"]["by_action"] == {"remove": 1, "remove_from_search": 1}
    complaints = result["complaints"]
    assert complaints["received"] == 1
    assert complaints["decided"] == 1
    assert complaints["by_outcome"] == {"reversed": 1}
    assert result["out_of_court_disputes"]["decided"] == 1
    assert result["out_of_court_disputes"]["implemented"] == 1
    assert result["article_23"]["account_suspended"] == 1
    assert result["article_23"]["suspensions"] == {
        "notices": 0,
        "complaints": 0,
        "manifestly_illegal_content": 1,
    }
    assert result["threats_to_life_notified"]["by_member_state"] == {"FR": 1}
    assert result["average_monthly_active_recipients"] == {"months_counted": 1, "average": 1200}
    assert result["own_initiative"]["by_restriction"] == {"remove_from_search": 1}


def test_old_appeal_decisions_count_from_format_4_and_stay_uncounted_before() -> None:
    """Entries written before one entry per appeal named a batch: reports of formats 1 to
    3 computed from them counted no decision, and recomputing them must give the same
    figures; format 4 counts them."""
    entries = _Entries()
    entries.add(reports.AppealFiled(appeal="A-1", decision=1, party="owner"), target="post:p")
    entries.add(
        reports.AppealDecided(
            appeal=None, outcome=None, decision=2, appeals=["A-1"], outcomes={"upheld": 1}
        )
    )
    result = figures.dsa(entries.log(), QUARTER, 3)
    complaints = result["complaints"]
    assert (complaints["received"], complaints["decided"]) == (1, 0)
    complaints = figures.dsa(entries.log(), QUARTER)["complaints"]
    assert (complaints["received"], complaints["decided"]) == (1, 1)
    assert complaints["by_outcome"] == {"upheld": 1}

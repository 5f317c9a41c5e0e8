"""Rempart's decisions carried out on the homeserver.

A decision plans actions in its own transaction (so a decision and its actions stand or
fall together); the worker carries them out outside any transaction, audits each result,
and retries failures with backoff. The mapping:

- remove from search: the room leaves the public room directory;
- remove content: a message is redacted, but only once the decision is final (the appeal
  window has passed or an appeal was rejected), because redaction cannot be undone; until
  then Rempart keeps it out of search. Content matched to a hash bank or decided
  manifestly illegal is taken down at once instead: its media quarantined, then redacted.
  A room leaves the directory;
- suspend entity: the room is blocked (nobody may join) and leaves the directory;
- suspend account: Synapse's reversible suspension, never deactivation, which would drop
  the threepids that a pending lawful order may need. Each suspension has its cause (the
  item decided, or an Art. 23 suspension): lifting one cause unsuspends the account only
  when no other cause still holds it;
- no violation, after any of these: what can be undone is undone. A harsher decision
  after a removal keeps the removal's pending redaction.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix import bot, event_reports
from rempart.adapters.matrix import notices as matrix_notices
from rempart.adapters.matrix.client import Homeserver, HomeserverError
from rempart.adapters.matrix.progress import ADAPTER
from rempart.audit import service as audit
from rempart.core.clock import now_of
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.jobs import backoff
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem, StatementOfReasons
from rempart.platform import events
from rempart.platform.models import PlatformAction
from rempart.reports.models import Appeal

log = logging.getLogger("rempart.matrix")

# Rempart acting on the homeserver (the sync writes as the platform, progress.ACTOR).
ACTOR = "system:matrix"
MAX_ATTEMPTS = 8
# While an appeal is open, a due redaction looks again this much later.
APPEAL_RECHECK = timedelta(hours=1)
# What undoes what; redaction has no inverse.
# Decisions after a removal that still require the message gone.
KEEPS_REDACTION = frozenset({"suspend_entity", "suspend_account"})
# Set on a suspension that found the account suspended already by the homeserver's admins.
BY_HOMESERVER = "suspended_by_homeserver"
# A message's removal on the homeserver: after the appeal window, or at once.
REDACTIONS = frozenset({"redact", "takedown"})
# Item states under which a planned redaction still goes ahead.
REDACTED_STATES = frozenset({"removed", "suspended"})
UNDO = {
    "directory_remove": "directory_restore",
    "block_room": "unblock_room",
    "suspend_user": "unsuspend_user",
}


def enabled(settings: Settings) -> bool:
    token = settings.matrix_admin_token
    return bool(
        settings.matrix_homeserver_url and token is not None and token.get_secret_value().strip()
    )


def _is_matrix(item: ModerationItem) -> bool:
    # Matrix ids carry their sigil: !room, $event, @user.
    return item.entity_id.startswith("!") and (item.kind != "post" or item.ref.startswith("$"))


def _add(
    session: Session,
    action: str,
    *,
    kind: str,
    ref: str,
    reason: str,
    due: datetime,
    item: ModerationItem | None = None,
    decision: ModerationDecision | None = None,
    cause: str | None = None,
) -> None:
    session.add(
        PlatformAction(
            adapter=ADAPTER,
            action=action,
            target_kind=kind,
            target_ref=ref,
            entity_id=item.entity_id if item else None,
            item_id=item.id if item else None,
            decision_id=decision.id if decision else None,
            reason=reason[:512],
            state="pending",
            due_at=due,
            attempts=0,
            details={"cause": cause} if cause else {},
            created_at=now_of(session),
        )
    )


def plan(
    session: Session,
    *,
    settings: Settings,
    item: ModerationItem,
    decision: ModerationDecision,
    after_appeal: bool,
    now: datetime,
    manifestly_illegal: bool = False,
) -> None:
    """The homeserver actions a moderator's decision on a Matrix item calls for."""
    if not (enabled(settings) and _is_matrix(item)):
        return
    earlier = list(
        session.execute(select(PlatformAction).where(PlatformAction.item_id == item.id)).scalars()
    )
    # A new decision replaces what an earlier one had planned and not yet done, except
    # what it still requires: a harsher decision on a removed message (suspending its
    # author or its room) keeps the message's pending redaction.
    for planned in earlier:
        if planned.state != "pending":
            continue
        if planned.action in REDACTIONS and decision.action in KEEPS_REDACTION:
            continue
        planned.state = "cancelled"
        planned.last_error = f"superseded by decision {decision.id}"
    room = item.entity_id
    reason = f"{decision.category or 'no violation'}: {decision.explanation}"
    # An account suspended over this item stays so until a decision on this item lifts it.
    cause = f"item:{item.id}"

    def add(action: str, kind: str, ref: str, due: datetime = now) -> None:
        _add(
            session,
            action,
            kind=kind,
            ref=ref,
            reason=reason,
            due=due,
            item=item,
            decision=decision,
            cause=cause if kind == "account" else None,
        )

    match decision.action:
        case "no_violation":
            done = {a.action for a in earlier if a.state == "done"}
            for measure, undo in UNDO.items():
                if measure in done:
                    on_account = measure == "suspend_user"
                    ref = item.owner_user_id if on_account else room
                    if ref:
                        add(undo, "account" if on_account else "entity", ref)
        case "remove_from_search":
            if item.kind == "entity":
                add("directory_remove", "entity", room)
        case "remove_content":
            if item.kind == "entity":
                add("directory_remove", "entity", room)
            elif manifestly_illegal or any(s.get("source") == "hash" for s in decision.signals):
                # Matched to a hash bank or manifestly illegal: taken down at once, its
                # media quarantined, without waiting for the decision to be final.
                add("takedown", "post", item.ref)
            else:
                # Final once an appeal was decided, or when the window to appeal has passed.
                final_at = (
                    now if after_appeal else now + timedelta(days=settings.appeal_window_days)
                )
                add("redact", "post", item.ref, final_at)
        case "suspend_entity":
            add("directory_remove", "entity", room)
            add("block_room", "entity", room)
        case "suspend_account":
            if item.owner_user_id:
                add("suspend_user", "account", item.owner_user_id)
    _state_the_rule(session, decision)


# What the statement of reasons says of a message's removal on the homeserver.
RULE = {
    "takedown": (
        "On the homeserver the message was deleted at once, with its files: content matched "
        "to known illegal material or decided manifestly illegal is not left online while "
        "an appeal is possible. Other removals wait until the decision is final."
    ),
    "redact": (
        "On the homeserver the message will be deleted once the decision is final (the "
        "appeal window has passed or an appeal was rejected); until then it is out of search."
    ),
}


def _state_the_rule(session: Session, decision: ModerationDecision) -> None:
    """The statement of reasons, issued in this transaction, says when the message leaves
    the homeserver and why then."""
    planned = {
        a.action
        for a in session.new
        if isinstance(a, PlatformAction) and a.decision_id == decision.id
    }
    rule = next((RULE[action] for action in RULE if action in planned), None)
    if rule is None:
        return
    statement = session.execute(
        select(StatementOfReasons).where(StatementOfReasons.decision_id == decision.id)
    ).scalar_one_or_none()
    if statement is None:
        return
    # The DSA database takes 5,000 characters: the rule is kept whole.
    facts = str(statement.payload.get("decision_facts", ""))[: 5000 - len(rule) - 1]
    statement.payload = {**statement.payload, "decision_facts": f"{facts} {rule}".strip()}


def plan_account_suspension(
    session: Session, *, settings: Settings, user_id: str, until: datetime, reason: str
) -> None:
    """An Art. 23 suspension of a Matrix account: suspended now, lifted when it ends."""
    if not (enabled(settings) and user_id.startswith("@")):
        return
    cause = f"art23:{until.isoformat()}"
    for action, due in (("suspend_user", now_of(session)), ("unsuspend_user", until)):
        _add(session, action, kind="account", ref=user_id, reason=reason, due=due, cause=cause)


def plan_open_suspension(
    session: Session, *, settings: Settings, user_id: str, cause: str, reason: str
) -> None:
    """A Matrix account suspended for a cause with no end date (content reported to a
    child-protection hotline): lifted only by a decision that names the same cause."""
    if not (enabled(settings) and user_id.startswith("@")):
        return
    _add(
        session,
        "suspend_user",
        kind="account",
        ref=user_id,
        reason=reason,
        due=now_of(session),
        cause=cause,
    )


# -- carrying them out ------------------------------------------------------------------


def cause_of(action: PlatformAction) -> str:
    """Why an account was suspended (or is being unsuspended): one decision's item, or one
    Art. 23 suspension. Actions from before causes were recorded fall back on theirs."""
    cause = action.details.get("cause") if action.details else None
    if isinstance(cause, str):
        return cause
    return f"item:{action.item_id}" if action.item_id is not None else f"art23:{action.reason}"


def _other_suspensions(session: Session, action: PlatformAction) -> list[str]:
    """The causes, other than this action's, for which the account stands suspended."""
    rows = list(
        session.execute(
            select(PlatformAction).where(
                PlatformAction.adapter == action.adapter,
                PlatformAction.target_ref == action.target_ref,
                PlatformAction.action.in_(["suspend_user", "unsuspend_user"]),
                PlatformAction.id != action.id,
            )
        ).scalars()
    )
    suspended = {cause_of(a) for a in rows if a.action == "suspend_user" and a.state != "cancelled"}
    lifted = {cause_of(a) for a in rows if a.action == "unsuspend_user" and a.state == "done"}
    standing = suspended - lifted - {cause_of(action)}
    if any(a.details.get(BY_HOMESERVER) for a in rows if a.action == "suspend_user"):
        # Suspended by the homeserver's own admins before Rempart: not Rempart's to lift.
        standing.add("homeserver")
    return sorted(standing)


def _still_wanted(session: Session, action: PlatformAction, now: datetime) -> str | None:
    """Why an action must not run now ('wait', 'cancel', or 'kept' for a suspension that
    another cause still holds), or None to go ahead."""
    if action.action == "unsuspend_user":
        return "kept" if _other_suspensions(session, action) else None
    if action.action not in REDACTIONS or action.item_id is None:
        return None
    item = session.get(ModerationItem, action.item_id)
    if item is None or item.state not in REDACTED_STATES:
        return "cancel"  # reversed meanwhile
    if action.action == "takedown":
        return None  # does not wait for an appeal
    open_appeal = session.execute(
        select(Appeal.id).where(Appeal.item_id == action.item_id, Appeal.state == "open")
    ).first()
    return "wait" if open_appeal is not None else None


@dataclass(frozen=True)
class _Call:
    id: int
    action: str
    ref: str
    room: str | None
    reason: str
    body: str | None = None
    # A suspension with no other cause of Rempart's behind it: is the account suspended
    # already, by the homeserver's admins?
    ask_first: bool = False


def _txn(call: _Call) -> str:
    """The transaction id of a message: the same for a retry of the same message, and never
    one that the homeserver already saw from this admin for another message. Synapse
    answers a known transaction id (per access token, and for server notices per id alone)
    with the earlier answer and sends nothing: action ids alone start again in a restored
    or second database."""
    digest = hashlib.sha256(f"{call.action}\n{call.ref}\n{call.body}".encode()).hexdigest()
    return f"rempart-{call.id}-{digest[:16]}"


def _perform(hs: Homeserver, call: _Call) -> dict[str, object]:
    """Carry out the call; what it learnt on the way, for the action's details."""
    ref = call.ref
    if call.action == "suspend_user" and call.ask_first and hs.user(ref).get("suspended"):
        return {BY_HOMESERVER: True}
    match call.action:
        case "directory_remove":
            hs.set_directory_visibility(ref, "private")
        case "directory_restore":
            hs.set_directory_visibility(ref, "public")
        case "block_room":
            hs.block_room(ref, block=True)
        case "unblock_room":
            hs.block_room(ref, block=False)
        case "suspend_user":
            hs.suspend_user(ref, suspend=True)
        case "unsuspend_user":
            hs.suspend_user(ref, suspend=False)
        case "resolve_report":
            hs.delete_event_report(int(ref))
        case "server_notice":
            hs.server_notice(ref, str(call.body), txn_id=_txn(call))
        case bot.ACTION:
            # Rempart's room with the user, opened anew if they left it.
            room = call.room
            learnt: dict[str, object] = {}
            if room is None or not hs.still_with(room, ref):
                room = hs.open_direct_room(ref, name=bot.ROOM_NAME, topic=bot.ROOM_TOPIC)
                learnt["room"] = room
            try:
                hs.send_text(room, str(call.body), txn_id=_txn(call))
            except HomeserverError as exc:
                # The room stays the user's: the retry writes there, not in another one.
                exc.learnt = learnt
                raise
            return learnt
        case "redact":
            hs.redact(str(call.room), ref, reason=call.reason, txn_id=f"rempart-{call.id}")
        case "takedown":
            # The files first: a redacted event no longer says which they were.
            for mxc in hs.event_media(str(call.room), ref):
                hs.quarantine_media(mxc)
            hs.redact(str(call.room), ref, reason=call.reason, txn_id=f"rempart-{call.id}")
        case other:
            raise ValueError(f"unknown action {other}")
    return {}


SETTLED: dict[str, type[events.PlatformActionSettled]] = {
    "done": events.PlatformActionDone,
    "failed": events.PlatformActionFailed,
    "cancelled": events.PlatformActionCancelled,
}


def _settle(session: Session, action: PlatformAction, outcome: str, error: str | None) -> None:
    action.state = outcome
    action.last_error = error
    if outcome == "done":
        action.done_at = now_of(session)
    settled = SETTLED[outcome](
        adapter=action.adapter,
        platform_action=action.action,
        decision_id=action.decision_id,
        attempts=action.attempts,
        error=error,
    )
    audit.record(session, settled, actor=ACTOR, target=f"{action.target_kind}:{action.target_ref}")


def run_due(rt: Runtime, hs: Homeserver, *, limit: int = 50) -> dict[str, int]:
    """Carry out the actions that are due; counts by outcome."""
    now = rt.now()
    counts = {"done": 0, "failed": 0, "retry": 0, "waiting": 0, "cancelled": 0}
    with transaction(rt.engine) as session:
        matrix_notices.queue_server_notices(session, settings=rt.settings, now=now)
        event_reports.queue_resolutions(session, now=now)
    with transaction(rt.engine, readonly=True) as session:
        due = list(
            session.execute(
                select(PlatformAction.id)
                .where(
                    PlatformAction.adapter == ADAPTER,
                    PlatformAction.state == "pending",
                    PlatformAction.due_at <= now,
                )
                .order_by(PlatformAction.due_at, PlatformAction.id)
                .limit(limit)
            ).scalars()
        )
    for action_id in due:
        with transaction(rt.engine) as session:
            action = session.get(PlatformAction, action_id)
            if action is None or action.state != "pending":
                continue
            verdict = _still_wanted(session, action, now)
            if verdict == "wait":
                action.due_at = now + APPEAL_RECHECK
                counts["waiting"] += 1
                continue
            if verdict == "cancel":
                _settle(session, action, "cancelled", "the decision was reversed")
                counts["cancelled"] += 1
                continue
            if verdict == "kept":
                # This cause is lifted; the account stays suspended for the others, and
                # the last of them to be lifted unsuspends it.
                others = _other_suspensions(session, action)
                action.details = {**action.details, "still_suspended_for": others}
                _settle(session, action, "done", None)
                counts["done"] += 1
                continue
            body = action.details.get("body") if action.details else None
            room = action.entity_id
            if action.action == bot.ACTION:
                room = bot.room_of(session, user_id=action.target_ref)
            call = _Call(
                action.id,
                action.action,
                action.target_ref,
                room,
                action.reason,
                str(body) if body is not None else None,
                ask_first=action.action == "suspend_user"
                and not _other_suspensions(session, action),
            )
        # The call happens outside any transaction: a slow homeserver holds no lock here.
        error: HomeserverError | None = None
        learnt: dict[str, object] = {}
        try:
            learnt = _perform(hs, call)
        except HomeserverError as exc:
            error = exc
        with transaction(rt.engine) as session:
            action = session.get(PlatformAction, action_id)
            assert action is not None
            action.attempts += 1
            if error is not None:
                bot.after_sent(session, action=action, learnt=error.learnt)
            if error is None:
                if learnt:
                    action.details = {**action.details, **learnt}
                bot.after_sent(session, action=action, learnt=learnt)
                matrix_notices.forget_body(action)
                _settle(session, action, "done", None)
                counts["done"] += 1
            elif error.permanent or action.attempts >= MAX_ATTEMPTS:
                _settle(session, action, "failed", str(error)[:512])
                counts["failed"] += 1
                log.error("action %s %s failed: %s", action.action, action.target_ref, error)
            else:
                action.last_error = str(error)[:512]
                action.due_at = rt.now() + backoff(action.attempts)
                counts["retry"] += 1
    return counts

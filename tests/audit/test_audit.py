"""The audit log end to end: recording, signed heads, proofs, verification and tampering.

Every test runs on SQLite and PostgreSQL. Tampering is done the way an insider with
database access would do it: plain SQL on the tables, bypassing the service.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rempart.audit import merkle, tiles
from rempart.audit import service as audit
from rempart.audit.exceptions import AuditLogBroken, PersonalDataInAudit
from rempart.audit.models import AuditTail
from rempart.audit.schemas import (
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    VerificationResult,
)
from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.core.crypto import KeyRing
from rempart.core.db import transaction
from rempart.core.deps import Runtime

Cli = Callable[..., Any]


# -- helpers ----------------------------------------------------------------------------


def record_entries(runtime: Runtime, count: int, *, label: str = "e") -> None:
    """``count`` entries in one committed transaction, as a service would write them."""
    with transaction(runtime.engine) as session:
        for index in range(count):
            audit.record_untyped(
                session,
                actor="principal:1",
                action="test.change",
                target=f"case:{label}{index}",
                details={"label": label, "index": index},
            )


def sign(runtime: Runtime) -> SignedTreeHead | None:
    return audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)


def verify(runtime: Runtime) -> VerificationResult:
    with transaction(runtime.engine, readonly=True) as session:
        return audit.verify_log(session, head_file=runtime.head_file, keys=runtime.keys)


def build_log(runtime: Runtime, head_sizes: tuple[int, ...] = (4, 8, 12)) -> None:
    """A log with a head signed after each batch, as the worker does every second."""
    size = 0
    for target in head_sizes:
        record_entries(runtime, target - size, label=f"b{target}-")
        size = target
        head = sign(runtime)
        assert head is not None
        assert head.tree_size == size


def reset_log(runtime: Runtime) -> None:
    sql(runtime, "DELETE FROM audit_entries")
    sql(runtime, "DELETE FROM audit_heads")
    sql(runtime, "UPDATE audit_tail SET size = 0")
    runtime.head_file.unlink(missing_ok=True)


def sql(runtime: Runtime, statement: str, **params: Any) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def stored_roots(runtime: Runtime) -> dict[tuple[int, int], bytes]:
    """Every subtree root the tiles hold, by (level, index)."""
    with runtime.engine.connect() as connection:
        tiles = connection.execute(sa.text("SELECT tile, hashes FROM audit_tiles")).all()
    return {
        (level, idx): value
        for tile, blob in tiles
        for level, idx, value in merkle.tile_nodes(tile, bytes(blob))
    }


def forge_root(runtime: Runtime, level: int, idx: int, value: bytes) -> None:
    """Overwrite one stored subtree root in its tile, as someone with the database could."""
    tile, slot = merkle.node_tile(level, idx)
    with runtime.engine.begin() as connection:
        blob = bytearray(
            connection.execute(
                sa.text("SELECT hashes FROM audit_tiles WHERE tile = :t"), {"t": tile}
            ).scalar_one()
        )
        blob[slot * 32 : (slot + 1) * 32] = value
        connection.execute(
            sa.text("UPDATE audit_tiles SET hashes = :h WHERE tile = :t"),
            {"h": bytes(blob), "t": tile},
        )


def body_of(runtime: Runtime, seq: int) -> str:
    with runtime.engine.connect() as connection:
        value = connection.execute(
            sa.text("SELECT body FROM audit_entries WHERE seq = :seq"), {"seq": seq}
        ).scalar_one()
    return str(value)


def edited_body(runtime: Runtime, seq: int) -> str:
    body = json.loads(body_of(runtime, seq))
    body["details"]["index"] = 999
    return audit.canonical_json(body).decode()


def first_bad_entry(stderr: str) -> int:
    match = re.search(r"first bad entry (\d+)", stderr)
    assert match is not None, stderr
    return int(match.group(1))


def tail_size(runtime: Runtime) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT size FROM audit_tail")).scalar_one())


def flip_hex(value: str, position: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[position % len(raw)] ^= 0x01
    return raw.hex()


def resign(head: SignedTreeHead, keys: KeyRing, **changes: Any) -> SignedTreeHead:
    """A head with changed fields and a valid signature by ``keys``: what a key holder forges."""
    fields = head.model_dump() | changes
    message = audit.canonical_json(
        {k: fields[k] for k in ("v", "log_id", "tree_size", "timestamp", "root_hash")}
    )
    fields["signature"] = base64.b64encode(keys.sign(message)).decode()
    return SignedTreeHead.model_validate(fields)


def head_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def auditor_headers(make_token: Callable[[Role], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(Role.AUDITOR)}"}


# -- verify: intact and tampered logs ---------------------------------------------------


def _edit(runtime: Runtime) -> int:
    sql(
        runtime,
        "UPDATE audit_entries SET body = :body WHERE seq = 6",
        body=edited_body(runtime, 6),
    )
    return 6


def _edit_and_rehash(runtime: Runtime) -> int:
    body = edited_body(runtime, 6)
    sql(
        runtime,
        "UPDATE audit_entries SET body = :body, leaf_hash = :leaf WHERE seq = 6",
        body=body,
        leaf=merkle.leaf_hash(body.encode()),
    )
    # Only a signed root can catch this; the finest it can name is the first entry after
    # the last head that still matches (heads at 4, 8, 12).
    return 4


def _edit_action_column(runtime: Runtime) -> int:
    sql(runtime, "UPDATE audit_entries SET action = 'test.other' WHERE seq = 2")
    return 2


def _edit_recorded_at_column(runtime: Runtime) -> int:
    # The query copy of the time moves (to hide an entry from a date-range report).
    sql(runtime, "UPDATE audit_entries SET recorded_at = :t WHERE seq = 9", t="2020-01-01 00:00:00")
    return 9


def _delete_middle(runtime: Runtime) -> int:
    sql(runtime, "DELETE FROM audit_entries WHERE seq = 5")
    return 5


def _swap_bodies(runtime: Runtime) -> int:
    # The whole rows' content moves, leaf hashes included, so each row is self-consistent.
    with runtime.engine.begin() as connection:
        rows = {
            seq: (body, leaf)
            for seq, body, leaf in connection.execute(
                sa.text("SELECT seq, body, leaf_hash FROM audit_entries WHERE seq IN (3, 9)")
            )
        }
        for seq, other in ((3, 9), (9, 3)):
            connection.execute(
                sa.text("UPDATE audit_entries SET body = :b, leaf_hash = :l WHERE seq = :s"),
                {"b": rows[other][0], "l": rows[other][1], "s": seq},
            )
    return 3


def _swap_seq(runtime: Runtime) -> int:
    with runtime.engine.begin() as connection:
        for old, new in ((3, -1), (9, 3), (-1, 9)):
            connection.execute(
                sa.text("UPDATE audit_entries SET seq = :new WHERE seq = :old"),
                {"old": old, "new": new},
            )
    return 3


def _truncate(runtime: Runtime) -> int:
    sql(runtime, "DELETE FROM audit_entries WHERE seq >= 10")
    return 10


def _roll_back_database(runtime: Runtime) -> int:
    # A restored backup: entries, heads and tail all go back to size 8; only the head
    # file, kept outside the database, still holds the head of size 12.
    sql(runtime, "DELETE FROM audit_entries WHERE seq >= 8")
    sql(runtime, "DELETE FROM audit_heads WHERE tree_size > 8")
    sql(runtime, "UPDATE audit_tail SET size = 8")
    return 8


def _roll_back_and_carry_on(runtime: Runtime) -> int:
    # After the restore, the service keeps writing: entries 8..11 exist again, but they are
    # not the entries the published head of size 12 signed.
    _roll_back_database(runtime)
    record_entries(runtime, 4, label="after-restore")
    return 8


def _delete_unsigned_tail(runtime: Runtime) -> int:
    # No head covers entries 12 and 13 yet; the tail row still counts them.
    record_entries(runtime, 2, label="unsigned")
    sql(runtime, "DELETE FROM audit_entries WHERE seq = 13")
    return 13


TAMPERINGS = {
    "edited": _edit,
    "edited-with-leaf-hash": _edit_and_rehash,
    "edited-action-column": _edit_action_column,
    "edited-recorded-at-column": _edit_recorded_at_column,
    "deleted-middle": _delete_middle,
    "reordered-bodies": _swap_bodies,
    "reordered-seq": _swap_seq,
    "truncated": _truncate,
    "database-rolled-back": _roll_back_database,
    "rolled-back-then-rewritten": _roll_back_and_carry_on,
    "unsigned-tail-deleted": _delete_unsigned_tail,
}


def test_verify_passes_on_an_intact_log_and_names_the_first_bad_entry(
    runtime: Runtime, cli: Cli, subtests: pytest.Subtests
) -> None:
    build_log(runtime)
    record_entries(runtime, 3, label="unsigned")  # entries after the latest head are fine
    result = verify(runtime)
    assert result.ok, result.problems
    assert (result.entries, result.heads_checked, result.first_bad_entry) == (15, 3, None)
    outcome = cli("audit", "verify")
    assert outcome.exit_code == 0, outcome.stderr
    assert "15 entries, 3 signed heads" in outcome.stdout

    # A fresh log for each tampering (a fresh database each would make the suite slow).
    for name, tamper in TAMPERINGS.items():
        with subtests.test(msg=name):
            reset_log(runtime)
            build_log(runtime)
            assert cli("audit", "verify").exit_code == 0

            expected = tamper(runtime)

            result = verify(runtime)
            assert not result.ok
            assert result.first_bad_entry == expected, result.problems
            outcome = cli("audit", "verify")
            assert outcome.exit_code == 1
            assert "AUDIT LOG BROKEN" in outcome.stderr
            assert first_bad_entry(outcome.stderr) == expected


def test_which_entry_a_bad_root_names(runtime: Runtime, subtests: pytest.Subtests) -> None:
    with subtests.test(msg="a head after every entry pins down a rehashed edit"):
        # A quiet log with the worker signing each second: one head per entry.
        build_log(runtime, head_sizes=tuple(range(1, 11)))
        _edit_and_rehash(runtime)
        result = verify(runtime)
        assert result.first_bad_entry == 6
        assert "entries 6..6 do not match the head signed for size 7" in result.problems

    with subtests.test(msg="an exact finding is not hidden by the range of a bad root"):
        reset_log(runtime)
        build_log(runtime, head_sizes=(12,))
        _edit(runtime)  # the root of 12 no longer matches either, but entry 6 is known
        result = verify(runtime)
        assert result.first_bad_entry == 6
        assert any("entries 0..11 do not match" in p for p in result.problems)


def test_forged_or_garbled_head_lines(runtime: Runtime, cli: Cli) -> None:
    build_log(runtime)
    path = runtime.head_file
    genuine = SignedTreeHead.model_validate_json(head_lines(path)[-1])

    # A head claiming a longer log, with the genuine signature of another head.
    forged = genuine.model_copy(update={"tree_size": 40, "root_hash": "00" * 32})
    with path.open("a") as handle:
        handle.write(forged.model_dump_json() + "\n")
    result = verify(runtime)
    assert not result.ok
    assert result.problems == ["the head of size 40 in the head file has a bad signature"]
    # A forged head is set aside, not believed: no entry is blamed for it.
    assert result.first_bad_entry is None
    outcome = cli("audit", "verify")
    assert outcome.exit_code == 1
    assert "bad signature" in outcome.stderr
    # The signer does not take the forged head for a published one either.
    record_entries(runtime, 1)
    assert sign(runtime) is not None

    intruder = KeyRing.generate()
    intruder_key = base64.b64encode(intruder.public_key_bytes).decode()
    # Signed by an intruder's key but labelled with this log's id ...
    borrowed_id = resign(genuine, intruder, public_key=intruder_key, root_hash="11" * 32)
    assert not audit.check_head_signature(borrowed_id)
    # ... or honestly labelled as the intruder's own log.
    own_id = resign(
        genuine, intruder, public_key=intruder_key, log_id=intruder.log_id, root_hash="22" * 32
    )
    assert audit.check_head_signature(own_id)
    with path.open("a") as handle:
        handle.write(borrowed_id.model_dump_json() + "\n")
        handle.write(own_id.model_dump_json() + "\n")
        handle.write('{"tree_size": 3, "root_ha\n')  # a torn write
    result = verify(runtime)
    assert result.problems == [
        "line 8 of the head file is not a signed tree head",
        "the head of size 40 in the head file has a bad signature",
        "the head of size 12 in the head file has a bad signature",
        "the head of size 12 in the head file was signed by another key",
    ]
    assert result.first_bad_entry is None
    outcome = cli("audit", "verify")
    assert outcome.exit_code == 1
    assert "line 8 of the head file is not a signed tree head" in outcome.stderr


def test_a_head_signed_over_a_rewritten_log_conflicts_with_the_head_file(
    runtime: Runtime,
) -> None:
    # An insider with the key edits an entry and re-signs the heads table; the head file
    # (kept elsewhere) still holds the original heads.
    build_log(runtime)
    _edit_and_rehash(runtime)
    sql(runtime, "DELETE FROM audit_heads")
    head = audit.sign_head(
        runtime.engine, keys=runtime.keys, head_file=runtime.head_file.with_name("new.jsonl")
    )
    assert head is not None
    assert head.tree_size == 12
    result = verify(runtime)
    assert "two different heads were signed for size 12" in result.problems
    assert result.first_bad_entry == 4


# -- signed tree heads ------------------------------------------------------------------


def test_sign_head_only_when_the_log_grew(runtime: Runtime, client: TestClient) -> None:
    missing = client.get("/v1/audit/head")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_tree_head"

    assert sign(runtime) is None  # an empty log has nothing to sign
    assert not runtime.head_file.exists()

    record_entries(runtime, 3)
    first = sign(runtime)
    assert first is not None
    assert (first.tree_size, first.log_id) == (3, runtime.keys.log_id)
    assert audit.check_head_signature(first)
    assert sign(runtime) is None
    assert len(head_lines(runtime.head_file)) == 1

    record_entries(runtime, 2)
    second = sign(runtime)
    assert second is not None
    assert second.tree_size == 5
    assert second.root_hash != first.root_hash
    assert sign(runtime) is None

    lines = head_lines(runtime.head_file)
    assert [SignedTreeHead.model_validate_json(line) for line in lines] == [first, second]
    assert audit.read_head_file(runtime.head_file) == [first, second]
    assert client.get("/v1/audit/head").json() == second.model_dump()
    with transaction(runtime.engine, readonly=True) as session:
        assert audit.head_at(session, keys=runtime.keys, tree_size=3) == first
        leaves = [
            merkle.leaf_hash(item.body.encode())
            for item in audit.list_entries(session, after=-1, limit=10).items
        ]
    # The head commits to exactly the stored entries, computed from scratch.
    assert second.root_hash == merkle.root_hash(leaves).hex()


def test_cli_head_signs_and_prints(runtime: Runtime, cli: Cli) -> None:
    assert cli("audit", "head").exit_code == 1  # nothing signed yet
    record_entries(runtime, 2)
    outcome = cli("audit", "head", "--sign")
    assert outcome.exit_code == 0, outcome.stderr
    head = SignedTreeHead.model_validate_json(outcome.stdout)
    assert head.tree_size == 2
    assert audit.check_head_signature(head)
    assert cli("audit", "head", "--sign").stdout == outcome.stdout  # nothing new
    assert len(head_lines(runtime.head_file)) == 1


def test_the_signer_refuses_to_sign_a_broken_log(
    runtime: Runtime, subtests: pytest.Subtests
) -> None:
    with subtests.test(msg="a database rolled back behind the head file"):
        build_log(runtime)
        _roll_back_and_carry_on(runtime)
        record_entries(runtime, 3)
        with pytest.raises(AuditLogBroken, match="rolled back"):
            sign(runtime)
        assert len(head_lines(runtime.head_file)) == 3

    with subtests.test(msg="a gap, or a frontier that does not give the signed root"):
        reset_log(runtime)
        build_log(runtime, head_sizes=(4,))
        record_entries(runtime, 3)
        sql(runtime, "DELETE FROM audit_entries WHERE seq = 6")
        with pytest.raises(AuditLogBroken, match="entry 6 is missing"):
            sign(runtime)
        sql(runtime, "DELETE FROM audit_entries WHERE seq = 5")
        with pytest.raises(AuditLogBroken, match="entry 5 is missing"):
            sign(runtime)
        sql(runtime, "UPDATE audit_tail SET size = 5")
        sql(runtime, "UPDATE audit_heads SET frontier = :f", f=json.dumps(["ab" * 32]))
        with pytest.raises(AuditLogBroken, match="frontier"):
            sign(runtime)
        assert len(head_lines(runtime.head_file)) == 1


# -- inclusion proofs -------------------------------------------------------------------


def test_inclusion_proofs_over_http(
    runtime: Runtime, client: TestClient, auditor_headers: dict[str, str]
) -> None:
    record_entries(runtime, 3)
    missing = client.get("/v1/audit/proofs/inclusion?entry=0")
    assert missing.status_code == 404  # no head signed yet
    sign(runtime)
    record_entries(runtime, 4)
    latest = sign(runtime)
    assert latest is not None
    size = latest.tree_size
    entries = client.get("/v1/audit/entries", headers=auditor_headers).json()["items"]
    assert [item["seq"] for item in entries] == list(range(size))

    for entry in range(size):
        response = client.get(f"/v1/audit/proofs/inclusion?entry={entry}")
        assert response.status_code == 200, response.text
        proof = InclusionProof.model_validate(response.json())
        assert proof.head == latest
        # The proof is about the entry the auditor reads, not just about a hash.
        body = entries[entry]["body"].encode()
        assert proof.leaf_hash == merkle.leaf_hash(body).hex()
        assert audit.check_inclusion(proof)

    proof = InclusionProof.model_validate(
        client.get(f"/v1/audit/proofs/inclusion?entry=4&tree_size={size}").json()
    )
    assert audit.check_inclusion(proof)
    tampered_path = [flip_hex(proof.audit_path[0], 5), *proof.audit_path[1:]]
    assert not audit.check_inclusion(proof.model_copy(update={"audit_path": tampered_path}))
    assert not audit.check_inclusion(proof.model_copy(update={"entry": 3}))
    assert not audit.check_inclusion(
        proof.model_copy(update={"leaf_hash": flip_hex(proof.leaf_hash, 31)})
    )
    # A flipped root fails even when re-signed with the log's own key: the path is checked.
    bad_root = resign(proof.head, runtime.keys, root_hash=flip_hex(proof.head.root_hash, 9))
    assert audit.check_head_signature(bad_root)
    assert not audit.check_inclusion(proof.model_copy(update={"head": bad_root}))
    # And a flipped root that is not re-signed fails on the signature.
    unsigned = proof.head.model_copy(update={"root_hash": flip_hex(proof.head.root_hash, 9)})
    assert not audit.check_inclusion(proof.model_copy(update={"head": unsigned}))
    assert not audit.check_inclusion(proof.model_copy(update={"audit_path": ["zz"]}))

    outside = client.get(f"/v1/audit/proofs/inclusion?entry={size}")
    assert outside.status_code == 422
    assert outside.json()["error"]["code"] == "entry_outside_tree"
    unknown = client.get(f"/v1/audit/proofs/inclusion?entry=0&tree_size={size - 1}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_tree_head"
    assert client.get("/v1/audit/proofs/inclusion?entry=-1").status_code == 422
    # Proofs read O(log n) stored roots, not every leaf. A gap on the proof's path is an
    # integrity failure with a clear code, not a crash (`audit verify` finds gaps anywhere).
    sql(runtime, "DELETE FROM audit_entries WHERE seq = 2")
    for entry in (2, 3):
        broken = client.get(f"/v1/audit/proofs/inclusion?entry={entry}")
        assert broken.status_code == 409
        assert broken.json()["error"]["code"] == "audit_log_broken"
    # A forged subtree root is never handed out as part of a proof.
    forge_root(runtime, 2, 0, b"\x07" * 32)
    forged = client.get("/v1/audit/proofs/inclusion?entry=5")
    assert forged.status_code == 409
    assert forged.json()["error"]["code"] == "audit_log_broken"


def test_inclusion_proofs_from_the_cli(runtime: Runtime, cli: Cli) -> None:
    record_entries(runtime, 3)
    sign(runtime)
    record_entries(runtime, 6)
    sign(runtime)
    latest = cli("audit", "prove", "--entry", "7")
    assert latest.exit_code == 0, latest.stderr
    proof = InclusionProof.model_validate_json(latest.stdout)
    assert (proof.entry, proof.tree_size) == (7, 9)
    assert audit.check_inclusion(proof)
    assert "inclusion proof verified" in latest.stderr

    older = cli("audit", "prove", "--entry", "1", "--tree-size", "3")
    assert older.exit_code == 0, older.stderr
    assert InclusionProof.model_validate_json(older.stdout).head.tree_size == 3
    assert cli("audit", "prove", "--entry", "3", "--tree-size", "3").exit_code == 1

    # An entry edited with its leaf hash: the server refuses to hand out a proof that
    # does not lead to the signed root.
    body = edited_body(runtime, 1)
    sql(
        runtime,
        "UPDATE audit_entries SET body = :body, leaf_hash = :leaf WHERE seq = 1",
        body=body,
        leaf=merkle.leaf_hash(body.encode()),
    )
    tampered = cli("audit", "prove", "--entry", "1")
    assert tampered.exit_code == 1
    assert "audit_log_broken" in tampered.stderr


# -- consistency proofs -----------------------------------------------------------------


def test_consistency_proofs_over_http(runtime: Runtime, client: TestClient) -> None:
    sizes = [1, 3, 4, 7, 8, 13]
    made = 0
    for size in sizes:
        record_entries(runtime, size - made)
        made = size
        sign(runtime)
    for first in sizes:
        for second in sizes:
            if first > second:
                continue
            response = client.get(f"/v1/audit/proofs/consistency?first={first}&second={second}")
            assert response.status_code == 200, response.text
            proof = ConsistencyProof.model_validate(response.json())
            assert (proof.first.tree_size, proof.second.tree_size) == (first, second)
            assert audit.check_consistency(proof)

    proof = ConsistencyProof.model_validate(
        client.get("/v1/audit/proofs/consistency?first=3&second=13").json()
    )
    tampered = [*proof.proof[:-1], flip_hex(proof.proof[-1], 17)]
    assert not audit.check_consistency(proof.model_copy(update={"proof": tampered}))
    assert not audit.check_consistency(proof.model_copy(update={"proof": proof.proof[:-1]}))
    for side in ("first", "second"):
        head: SignedTreeHead = getattr(proof, side)
        resigned = resign(head, runtime.keys, root_hash=flip_hex(head.root_hash, 3))
        assert not audit.check_consistency(proof.model_copy(update={side: resigned}))
    other_log = KeyRing.generate()
    foreign = resign(
        proof.second,
        other_log,
        log_id=other_log.log_id,
        public_key=base64.b64encode(other_log.public_key_bytes).decode(),
    )
    assert not audit.check_consistency(proof.model_copy(update={"second": foreign}))

    backwards = client.get("/v1/audit/proofs/consistency?first=13&second=3")
    assert backwards.status_code == 422
    unknown = client.get("/v1/audit/proofs/consistency?first=2&second=13")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_tree_head"


def test_cli_consistency_with_a_saved_head(runtime: Runtime, cli: Cli, tmp_path: Path) -> None:
    # An outside party keeps a copy of a head; later the operator proves the log grew
    # only by appending.
    record_entries(runtime, 5)
    saved = tmp_path / "kept-by-a-journalist.json"
    saved.write_text(cli("audit", "head", "--sign").stdout)
    record_entries(runtime, 6)
    newer = cli("audit", "head", "--sign")
    newer_file = tmp_path / "newer.json"
    newer_file.write_text(newer.stdout)

    for new in ("11", str(newer_file)):
        outcome = cli("audit", "consistency", str(saved), new)
        assert outcome.exit_code == 0, outcome.stderr
        assert "consistency proof verified" in outcome.stderr
        assert audit.check_consistency(ConsistencyProof.model_validate_json(outcome.stdout))
    assert cli("audit", "consistency", "5", "11").exit_code == 0

    # An insider with the database and the key file rewrites entry 1, then rebuilds the
    # heads table by re-signing the same sizes, and replaces the server's head file.
    body = edited_body(runtime, 1)
    sql(
        runtime,
        "UPDATE audit_entries SET body = :body, leaf_hash = :leaf WHERE seq = 1",
        body=body,
        leaf=merkle.leaf_hash(body.encode()),
    )
    sql(runtime, "DELETE FROM audit_heads")
    runtime.head_file.rename(tmp_path / "moved-away.jsonl")
    for size in (5, 11):
        sql(runtime, "UPDATE audit_tail SET size = :size", size=size)
        assert sign(runtime) is not None
    # The rewrite is complete: on the server alone nothing looks wrong.
    assert verify(runtime).ok
    assert cli("audit", "consistency", "5", "11").exit_code == 0

    for new in ("11", str(newer_file)):
        outcome = cli("audit", "consistency", str(saved), new)
        assert outcome.exit_code == 1
        assert "NOT consistent" in outcome.stderr


def test_proofs_from_stored_subtree_roots_match_the_rfc_across_power_of_two_sizes(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heads signed at sizes on both sides of powers of two: every inclusion and
    consistency proof, read from stored subtree roots, equals the one computed over all
    the leaves, and checks against its signed heads."""
    # The signer reads leaves in chunks; chunks of 3 cut across every subtree boundary.
    monkeypatch.setattr(audit, "SIGN_CHUNK", 3)
    sizes = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)
    signed: list[int] = []
    for size in sizes:
        record_entries(runtime, size - (signed[-1] if signed else 0), label=f"s{size}-")
        head = sign(runtime)
        assert head is not None
        assert head.tree_size == size
        signed.append(size)
    with transaction(runtime.engine, readonly=True) as session:
        leaves = [
            bytes(leaf)
            for leaf in session.execute(
                sa.text("SELECT leaf_hash FROM audit_entries ORDER BY seq")
            ).scalars()
        ]
        for size in sizes:
            for entry in range(size):
                proof = audit.prove_inclusion(
                    session, keys=runtime.keys, entry=entry, tree_size=size
                )
                expected = merkle.inclusion_proof(entry, leaves[:size])
                assert proof.audit_path == [h.hex() for h in expected], (entry, size)
                assert audit.check_inclusion(proof)
            for first in signed:
                if first > size:
                    break
                consistency = audit.prove_consistency(
                    session, keys=runtime.keys, first=first, second=size
                )
                expected = merkle.consistency_proof(first, leaves[:size])
                assert consistency.proof == [h.hex() for h in expected], (first, size)
                assert audit.check_consistency(consistency)
    # Every stored subtree root is one the leaves give.
    stored = stored_roots(runtime)
    assert len(stored) == 16 + 8 + 4 + 2 + 1  # perfect subtrees of 2+ leaves in 33 leaves
    for (level, idx), value in stored.items():
        width = 1 << level
        assert bytes(value) == merkle.perfect_root(leaves[idx * width : (idx + 1) * width])

    # A forged stored root is refused, not served, whichever proof would carry it.
    forge_root(runtime, 3, 1, b"\x01" * 32)
    assert client.get("/v1/audit/proofs/inclusion?entry=0&tree_size=33").status_code == 409
    assert client.get("/v1/audit/proofs/consistency?first=5&second=33").status_code == 409
    assert client.get("/v1/audit/proofs/inclusion?entry=32&tree_size=33").status_code == 200


def test_a_proof_reads_one_tile_per_band_and_the_heads_frontier(
    runtime: Runtime, client: TestClient
) -> None:
    """At 200 entries a proof needs roots of levels 1 to 7: they are read in one statement
    from one tile per band of levels (two rows), the tree's right edge from the head row.
    A forged frontier is refused like a forged root; a garbled one falls back to the
    stored roots."""
    record_entries(runtime, 200)
    head = sign(runtime)
    assert head is not None
    statements: list[str] = []

    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(runtime.engine, "before_cursor_execute", _seen)
    try:
        with transaction(runtime.engine, readonly=True) as session:
            proof = audit.prove_inclusion(session, keys=runtime.keys, entry=5)
    finally:
        sa.event.remove(runtime.engine, "before_cursor_execute", _seen)
    assert audit.check_inclusion(proof)
    reads = [s for s in statements if "audit_tiles" in s]
    assert len(reads) == 1
    tiles = re.findall(r"\d+", reads[0].split(" IN ")[1])
    assert len(tiles) == 2
    siblings = [(level, (5 >> level) ^ 1) for level in range(1, 7)]  # under 128, the edge
    assert {merkle.node_tile(*node)[0] for node in siblings} == set(map(int, tiles))
    if runtime.engine.dialect.name == "sqlite":
        # The tile is the table's own key (its rowid): one b-tree, no index to go through.
        with runtime.engine.connect() as connection:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + reads[0]).all()
        assert "USING INTEGER PRIMARY KEY" in str(plan)
    # An empty slot is a missing root, not a hash to hand out.
    forge_root(runtime, 1, 3, merkle.MISSING)
    assert client.get("/v1/audit/proofs/inclusion?entry=5").status_code == 409
    forge_root(runtime, 1, 3, bytes.fromhex(proof.audit_path[1]))

    frontier = json.dumps([flip_hex("00" * 32, 3)] * len(merkle.frontier_nodes(200)))
    sql(runtime, "UPDATE audit_heads SET frontier = :f WHERE tree_size = 200", f=frontier)
    forged = client.get("/v1/audit/proofs/inclusion?entry=5")
    assert forged.status_code == 409
    assert forged.json()["error"]["code"] == "audit_log_broken"
    sql(runtime, "UPDATE audit_heads SET frontier = 'garbled' WHERE tree_size = 200")
    served = client.get("/v1/audit/proofs/inclusion?entry=5")
    assert served.status_code == 200
    assert InclusionProof.model_validate(served.json()) == proof


def test_signers_patching_one_tile_keep_each_others_roots(runtime: Runtime) -> None:
    """Two signers store roots of one tile at once (the worker's round and `rempart audit
    head`): the second reads the tile only once the first has committed, so neither writes
    back a tile without the other's roots. Without the writers' lock on PostgreSQL the
    second read the tile before the first's commit and its upsert overwrote it."""
    first, second = (1, 0, b"\xaa" * 32), (1, 1, b"\xbb" * 32)
    assert merkle.node_tile(1, 0)[0] == merkle.node_tile(1, 1)[0]
    finished = threading.Event()
    errors: list[BaseException] = []

    def other_signer() -> None:
        try:
            with transaction(runtime.engine) as session:
                tiles.store_roots(session, [second])
        except BaseException as exc:
            errors.append(exc)
        finally:
            finished.set()

    with transaction(runtime.engine) as session:
        tiles.store_roots(session, [first])
        thread = threading.Thread(target=other_signer)
        thread.start()
        assert not finished.wait(0.5)  # it waits for this transaction
    thread.join(30)
    assert not errors, errors
    assert stored_roots(runtime) == {(1, 0): first[2], (1, 1): second[2]}


def test_receipts_find_entries_by_their_target_not_by_a_body_scan(runtime: Runtime) -> None:
    """An entry whose details merely quote another order's target is not part of that
    order's receipt (a body scan with LIKE counted it), and the target column is checked
    against the body by `audit verify`."""
    with transaction(runtime.engine) as session:
        audit.record_untyped(
            session, actor="principal:1", action="legal.order.received", target="order:A"
        )
        audit.record_untyped(
            session,
            actor="principal:2",
            action="legal.note",
            target="order:B",
            details={"target": "order:A", "x": '"target":"order:A"'},
        )
        audit.record_untyped(session, actor="principal:1", action="test.other", target="order:A")
    assert sign(runtime) is not None
    with transaction(runtime.engine, readonly=True) as session:
        proofs = audit.prove_target(
            session, keys=runtime.keys, target="order:A", action_prefix="legal."
        )
        assert [p.entry for p in proofs] == [0]
        assert all(audit.check_inclusion(p) for p in proofs)
        assert (
            audit.prove_target(session, keys=runtime.keys, target="order:%", action_prefix="legal.")
            == []
        )
    assert verify(runtime).ok
    sql(runtime, "UPDATE audit_entries SET target = 'order:A' WHERE seq = 1")
    result = verify(runtime)
    assert not result.ok
    assert result.first_bad_entry == 1
    assert "target column" in result.problems[0]


# -- the entries endpoint ---------------------------------------------------------------


def test_entries_are_for_auditors_only(
    runtime: Runtime,
    client: TestClient,
    auditor_headers: dict[str, str],
    platform_headers: dict[str, str],
) -> None:
    assert client.get("/v1/audit/entries").status_code == 401
    assert client.get("/v1/audit/entries", headers=platform_headers).status_code == 403
    record_entries(runtime, 5)
    total = tail_size(runtime)
    first = client.get("/v1/audit/entries?limit=3", headers=auditor_headers).json()
    assert [item["seq"] for item in first["items"]] == [0, 1, 2]
    seen = [item["seq"] for item in first["items"]]
    after = first["next_after"]
    while after is not None:
        page = client.get(f"/v1/audit/entries?limit=3&after={after}", headers=auditor_headers)
        assert page.status_code == 200
        seen += [item["seq"] for item in page.json()["items"]]
        after = page.json()["next_after"]
    assert seen == list(range(total))
    for item in first["items"]:
        assert json.loads(item["body"])["seq"] == item["seq"]


# -- personal data ----------------------------------------------------------------------

PERSONAL = {
    "ipv4": {"address": "203.0.113.7"},
    "ipv6": {"address": "2001:db8::17"},
    "ipv6-bracketed-with-port": {"peer": "[2001:db8::17]:443"},
    "ipv4-mapped": {"peer": "::ffff:198.51.100.4"},
    "ipv4-in-text": {"note": "login from 198.51.100.23 refused"},
    "ipv4-with-port": {"peer": "198.51.100.23:5222"},
    "ipv6-in-text": {"note": "seen at fe80::1ff:fe23:4567:890a, twice"},
    "e164": {"phone": "+61491570123"},
    "international-spaced": {"phone": "+33 6 12 34 56 78"},
    "phone-in-text": {"note": "call back on +1 (202) 555-0143 tomorrow"},
    "national": {"phone": "06 12 34 56 78"},
    "nested-in-list": {"items": [{"ok": 1}, ["x", "203.0.113.9"]]},
    "in-a-key": {"203.0.113.7": "blocked"},
}


PERSONAL_FIELDS = [
    {"target": "connection:203.0.113.7"},
    {"target": "+61491570123"},
    {"actor": "ip:2001:db8::1"},
    {"country": "+33612345678"},
]
ORDINARY = {
    "period_start": "2026-01-01",
    "cutoff": "2026-07-01T00:00:00+00:00",
    "time": "12:30:45",
    "batch_digest": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "counts": {"connection.seen": 1200, "account.updated": 3},
    "ratio": "0.25",
    "version": "v1.2.3",
    "principal": "principal:12",
    "scope": "audit:entries:read",
    "rust_path": "std::vec",
}


def test_record_refuses_personal_data(runtime: Runtime) -> None:
    # One transaction for all cases: refusals leave nothing queued, and the ordinary
    # entry recorded after them is the only one committed.
    accepted: list[str] = []
    with transaction(runtime.engine) as session:
        base: dict[str, Any] = {"actor": "principal:1", "action": "test.change"}
        cases = [(base | {"details": d}, name) for name, d in PERSONAL.items()]
        cases += [(base | fields, str(fields)) for fields in PERSONAL_FIELDS]
        for values, name in cases:
            try:
                audit.record_untyped(session, **values)
            except PersonalDataInAudit:
                continue
            accepted.append(name)
        audit.record_untyped(session, actor="principal:1", action="test.ordinary", details=ORDINARY)
    with transaction(runtime.engine, readonly=True) as session:
        items = audit.list_entries(session, after=-1, limit=5).items
    assert accepted == []
    assert [json.loads(item.body)["details"] for item in items] == [ORDINARY]


def test_record_takes_a_copy_of_the_details(runtime: Runtime) -> None:
    details: dict[str, Any] = {"reason": "checked"}
    with transaction(runtime.engine) as session:
        audit.record_untyped(session, actor="principal:1", action="test.change", details=details)
        # Changed after the check: neither the change nor the IP may reach the log.
        details["peer"] = "203.0.113.7"
        with pytest.raises(TypeError):
            audit.record_untyped(session, actor="p", action="test.change", details={"at": object()})
    with transaction(runtime.engine, readonly=True) as session:
        [item] = audit.list_entries(session, after=-1, limit=5).items
    assert json.loads(item.body)["details"] == {"reason": "checked"}


def test_ingest_writes_no_personal_data_to_the_log(
    runtime: Runtime,
    client: TestClient,
    platform_headers: dict[str, str],
    auditor_headers: dict[str, str],
) -> None:
    secrets = ["+61491570123", "61491570123", "203.0.113.77", "2001:db8::77", "198.51.100.8"]
    events = [
        {
            "id": "acct-1",
            "type": "account.registered",
            "occurred_at": "2026-01-01T00:00:00Z",
            "user_id": "u1",
            "phone_number": "+61 491 570 123",
        },
        *[
            {
                "id": f"conn-{index}",
                "type": "connection.seen",
                "occurred_at": "2026-01-02T00:00:00Z",
                "user_id": "u1",
                "ip": ip,
                "port": 40000 + index,
            }
            for index, ip in enumerate(["203.0.113.77", "2001:db8::77", "198.51.100.8"])
        ],
    ]
    response = client.post("/v1/ingest/events", json={"events": events}, headers=platform_headers)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 4

    items = client.get("/v1/audit/entries?limit=1000", headers=auditor_headers).json()["items"]
    assert any(json.loads(item["body"])["action"] == "platform.ingest" for item in items)
    for item in items:
        for secret in secrets:
            assert secret not in item["body"]
    assert verify(runtime).ok


# -- transactions -----------------------------------------------------------------------


def _record_then_fail(session: Session, action: str) -> None:
    audit.record_untyped(session, actor="principal:1", action=action)
    raise RuntimeError("the change failed")


def test_entries_follow_their_transaction(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), transaction(runtime.engine) as session:
        _record_then_fail(session, "test.doomed")
    with transaction(runtime.engine) as session:
        audit.record_untyped(session, actor="principal:1", action="test.outer")
        with pytest.raises(RuntimeError), session.begin_nested():
            _record_then_fail(session, "test.inner.undone")
        with session.begin_nested():
            audit.record_untyped(session, actor="principal:1", action="test.inner.kept")
        # Releasing a savepoint does not append yet: the tail is locked only at commit.
        assert session.execute(sa.text("SELECT size FROM audit_tail")).scalar_one() == 0
        audit.record_untyped(session, actor="principal:1", action="test.last")
    with transaction(runtime.engine, readonly=True) as session:
        items = audit.list_entries(session, after=-1, limit=10).items
    actions = [json.loads(i.body)["action"] for i in items]
    assert actions == ["test.outer", "test.inner.kept", "test.last"]
    assert tail_size(runtime) == 3


def test_a_tail_row_already_loaded_is_not_trusted(runtime: Runtime, database_url: str) -> None:
    # expire_on_commit=False keeps loaded rows, across commits too; the append step must
    # read the tail afresh under its lock, not take a size cached in the session.
    with Session(runtime.engine, expire_on_commit=False) as session:
        with session.begin():
            # Held on purpose: the identity map keeps only rows someone still refers to.
            loaded = session.get(AuditTail, 1)
            assert loaded is not None
            audit.record_untyped(session, actor="principal:1", action="test.first")
        record_entries(runtime, 2)  # another writer in between
        with session.begin():
            if not database_url.startswith("sqlite"):
                # On PostgreSQL another writer can even commit while this transaction,
                # which has loaded the tail row, is still open.
                assert session.get(AuditTail, 1) is loaded
                thread = threading.Thread(target=record_entries, args=(runtime, 2))
                thread.start()
                thread.join(10)
            audit.record_untyped(session, actor="principal:1", action="test.again")
    with transaction(runtime.engine, readonly=True) as session:
        items = audit.list_entries(session, after=-1, limit=10).items
    assert tail_size(runtime) == len(items) == (4 if database_url.startswith("sqlite") else 6)
    assert json.loads(items[-1].body)["action"] == "test.again"
    assert verify(runtime).ok


def test_only_the_append_step_is_serialised(runtime: Runtime, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite takes the write lock at BEGIN, by design")
    recorded = threading.Event()
    other_done = threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            with transaction(runtime.engine) as session:
                # Real work, written to the database, with its audit entries queued.
                auth.create_token(session, role=Role.ADMIN, name="slow", actor="test")
                session.flush()
                recorded.set()
                # Still working: another transaction must be able to commit meanwhile.
                assert other_done.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    assert recorded.wait(10)
    started = time.monotonic()
    record_entries(runtime, 1, label="fast")
    assert time.monotonic() - started < 5
    other_done.set()
    thread.join(10)
    assert not errors
    with transaction(runtime.engine, readonly=True) as session:
        items = audit.list_entries(session, after=-1, limit=5).items
    actions = [json.loads(i.body)["action"] for i in items]
    assert actions == ["test.change", "auth.principal.create", "auth.token.create"]


def test_concurrent_writers(runtime: Runtime, database_url: str) -> None:
    # SQLite serialises writers at BEGIN; a smaller run still checks the bookkeeping.
    threads_count, transactions = (3, 8) if database_url.startswith("sqlite") else (8, 25)
    committed: list[tuple[int, int, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count + 1)
    stop_signing = threading.Event()

    def writer(worker: int) -> None:
        start.wait()
        for number in range(transactions):
            entries = 1 + (worker + number) % 3
            doomed = number % 5 == 4
            try:
                with transaction(runtime.engine) as session:
                    for index in range(entries):
                        audit.record_untyped(
                            session,
                            actor=f"principal:{worker}",
                            action="test.concurrent",
                            details={"worker": worker, "tx": number, "index": index},
                        )
                    if doomed:
                        raise LookupError("rolled back on purpose")
            except LookupError:
                continue
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                committed.extend((worker, number, index) for index in range(entries))

    def signer() -> None:
        start.wait()
        while not stop_signing.is_set():
            try:
                sign(runtime)
            except BaseException as exc:
                errors.append(exc)
                return
            time.sleep(0.01)

    workers = [threading.Thread(target=writer, args=(w,)) for w in range(threads_count)]
    signing = threading.Thread(target=signer)
    for thread in [*workers, signing]:
        thread.start()
    for thread in workers:
        thread.join(60)
    stop_signing.set()
    signing.join(60)
    assert not errors, errors
    sign(runtime)

    with transaction(runtime.engine, readonly=True) as session:
        items = audit.list_entries(session, after=-1, limit=1000).items
        result = audit.verify_log(session, head_file=runtime.head_file, keys=runtime.keys)
    assert result.ok, result.problems
    assert [item.seq for item in items] == list(range(len(items)))
    assert tail_size(runtime) == len(items)
    found = sorted(
        (d["worker"], d["tx"], d["index"]) for d in (json.loads(i.body)["details"] for i in items)
    )
    assert found == sorted(committed)
    assert all(tx % 5 != 4 for _, tx, _ in found)
    # Each transaction's entries are contiguous: appended in one step.
    by_tx: dict[tuple[int, int], list[int]] = {}
    for item in items:
        details = json.loads(item.body)["details"]
        by_tx.setdefault((details["worker"], details["tx"]), []).append(item.seq)
    for seqs in by_tx.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    heads = audit.read_head_file(runtime.head_file)
    assert heads[-1].tree_size == len(items)

#!/usr/bin/env python3
"""Verify a Rempart transparency report from its published files alone: no database, no
Rempart installation, only Python's standard library and ``cryptography``.

    python verify_report.py REPORT.json [--dataset REPORT.dataset.json] [--previous OLD.json]
    python verify_report.py http://127.0.0.1:8000/v1/transparency/reports/7

It checks that
1. the report's tree head (and the previous report's) is signed by the log's key, whose
   fingerprint is the log id;
2. the report itself is signed by that key: its figures, heads, consistency proof and the
   root of its dataset are the ones the platform published;
3. the head extends the previous report's head (RFC 9162 consistency proof): the log was
   only appended to, never forked or rewritten, between the two reports;
4. every dataset entry has an inclusion proof under the head, lies in the report's window,
   and the entries are those the report signed (their count and their Merkle root);
5. every figure, recomputed from the dataset's entries with the report's own definitions
   (below), equals the published one;
6. with ``--templates`` (a DSA report's CSV files in the templates of Implementing
   Regulation (EU) 2024/2835: a folder, a zip or the zip's URL), every cell of every file,
   recomputed from the same entries, equals the published one.
It exits 0 when all holds, and 1 naming every mismatch otherwise.

Rempart keeps ``src/rempart/transparency/standalone_verify.py``; ``make verifier`` writes
``verify_report.py`` from it with the figure definitions of ``figures.py`` inlined.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import re
import sys
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# <figures>
from rempart.transparency.figures import (
    RELEVANT_FOR,
    Log,
    compare,
    compute,
    entry_time,
    parse_period,
    version_of,
    window_start,
)

# </figures>
# isort: split
# <templates>
# The templates subclass the figures' Log: in the one file, they come after the figures.
from rempart.transparency.dsa_labels import TEMPLATE_FILES
from rempart.transparency.dsa_templates import check_templates

# </templates>

HEAD_FORMAT_VERSION = 1
REPORT_CONTEXT = b"rempart-transparency-report/2\n"
# Not part of what a report's signature covers: the signature, and the storage id the
# platform's API adds.
UNSIGNED = ("signature", "id")
_EMBEDDED = re.compile(
    r'<script type="application/json" id="transparency-report">(.*?)</script>', re.DOTALL
)


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


# -- Merkle trees (RFC 9162 §2.1) --------------------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first_size: int, second_size: int, first: bytes, second: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if not 0 < first_size <= second_size:
        return False
    if first_size == second_size:
        return not proof and first == second
    if not proof:
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first and sr == second


def _hex(value: Any) -> bytes | None:
    try:
        decoded = bytes.fromhex(str(value))
    except ValueError:
        return None
    return decoded if len(decoded) == 32 else None


# -- signatures --------------------------------------------------------------------------


def _public_key(head: dict[str, Any]) -> Ed25519PublicKey | None:
    try:
        raw = base64.b64decode(str(head.get("public_key")), validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None
    # The log id is the key's fingerprint: a head signed by another key cannot pass as
    # this log's by borrowing its id.
    return key if hashlib.sha256(raw).hexdigest() == head.get("log_id") else None


def _signed(key: Ed25519PublicKey, signature: Any, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(str(signature), validate=True), message)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def check_head(head: Any, name: str) -> list[str]:
    if not isinstance(head, dict) or not all(
        k in head for k in ("log_id", "tree_size", "timestamp", "root_hash", "signature")
    ):
        return [f"the {name} is not a signed tree head"]
    key = _public_key(head)
    message = canonical_json(
        {
            "v": HEAD_FORMAT_VERSION,
            "log_id": head["log_id"],
            "tree_size": head["tree_size"],
            "timestamp": head["timestamp"],
            "root_hash": head["root_hash"],
        }
    )
    if head.get("v", HEAD_FORMAT_VERSION) != HEAD_FORMAT_VERSION or key is None:
        return [f"the {name} names a key that is not its log's"]
    if not _signed(key, head["signature"], message):
        return [f"the {name} has a bad signature"]
    return []


def signed_report_bytes(report: dict[str, Any]) -> bytes:
    return REPORT_CONTEXT + canonical_json({k: v for k, v in report.items() if k not in UNSIGNED})


def record_hash(record: dict[str, Any]) -> bytes:
    """A dataset entry as the report's dataset root covers it."""
    signed = {
        "seq": record.get("seq"),
        "leaf_hash": record.get("leaf_hash"),
        "entry": record.get("entry"),
    }
    return hashlib.sha256(b"\x00" + canonical_json(signed)).digest()


def dataset_root(records: Sequence[dict[str, Any]]) -> bytes:
    return merkle_root([record_hash(r) for r in records])


# -- the checks --------------------------------------------------------------------------


def _chain(report: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    head, before = report["head"], report.get("previous_head")
    problems = []
    if previous is not None and previous.get("head") != before:
        problems.append("the previous report's head is not the one this report names")
    if before is None:
        return problems
    problems += check_head(before, "previous report's head")
    if problems:
        return problems
    if before["log_id"] != head["log_id"]:
        return ["the previous report's head belongs to another log"]
    first, second = int(before["tree_size"]), int(head["tree_size"])
    if first > second:
        return [f"the log shrank: the previous report covered {first} entries, this one {second}"]
    proof = [_hex(h) for h in report.get("consistency_proof") or []]
    roots = _hex(before["root_hash"]), _hex(head["root_hash"])
    if first == 0:
        ok = roots[0] == hashlib.sha256(b"").digest() and not proof
    else:
        ok = (
            None not in proof
            and None not in roots
            and verify_consistency(first, second, roots[0], roots[1], proof)  # type: ignore[arg-type]
        )
    if not ok:
        problems.append(
            f"the log forked: this report's head (size {second}) is not consistent with the "
            f"previous report's head (size {first})"
        )
    return problems


def _entries(report: dict[str, Any], dataset: dict[str, Any]) -> tuple[list[str], Log]:
    head, kind = report["head"], str(report["kind"])
    period = parse_period(str(report["period"]))
    start = window_start(kind, period)
    root = _hex(head["root_hash"])
    problems: list[str] = []
    if (
        dataset.get("head") != head
        or dataset.get("kind") != kind
        or dataset.get("period") != report["period"]
    ):
        problems.append("the dataset belongs to another report (its head, kind or period differ)")
    records = dataset.get("entries")
    if not isinstance(records, list):
        return [*problems, "the dataset holds no list of entries"], Log()
    log, last = Log(), -1
    for record in records:
        seq, entry = record.get("seq"), record.get("entry") or {}
        if not isinstance(seq, int) or seq <= last:
            problems.append(f"dataset entry {seq!r} is out of order or repeated")
            continue
        last = seq
        leaf = _hex(record.get("leaf_hash"))
        path = [_hex(h) for h in record.get("audit_path") or []]
        if (
            leaf is None
            or root is None
            or None in path
            or not verify_inclusion(leaf, seq, int(head["tree_size"]), path, root)  # type: ignore[arg-type]
        ):
            problems.append(
                f"dataset entry {seq}: its inclusion proof under the report's head fails"
            )
        if entry.get("seq") != seq:
            problems.append(f"dataset entry {seq} holds the entry numbered {entry.get('seq')!r}")
        if entry.get("action") not in RELEVANT_FOR[kind]:
            problems.append(
                f"dataset entry {seq} ({entry.get('action')!r}) is not one this report reads"
            )
            continue
        try:
            if entry_time(entry) < start:
                problems.append(f"dataset entry {seq} lies before the report's window")
        except (KeyError, ValueError):
            problems.append(f"dataset entry {seq} has no valid time")
            continue
        log.add(entry)
    signed = report.get("dataset") or {}
    if signed.get("entries") != len(records):
        problems.append(
            f"the dataset holds {len(records)} entries but the report signs "
            f"{signed.get('entries')!r}: entries are missing or were added"
        )
    if dataset_root(records).hex() != signed.get("root"):
        problems.append(
            "the dataset's entries are not those the report signed: their Merkle root "
            "differs (an entry, a pseudonym or a proof was changed, added or left out)"
        )
    return problems, log


def verify(
    report: dict[str, Any], dataset: dict[str, Any] | None, previous: dict[str, Any] | None = None
) -> list[str]:
    """Every problem found; an empty list means the report holds."""
    if report.get("version", 1) < 2 or dataset is None:
        return [
            "this report has no public dataset (reports of format 1 do not): verify it "
            "against the log with `rempart transparency verify --against-log`"
        ]
    if report.get("kind") not in RELEVANT_FOR:
        return [f"unknown report kind {report.get('kind')!r}"]
    try:
        period = parse_period(str(report.get("period")))
    except ValueError:
        return ["the report's period is not a quarter or a year"]
    problems = check_head(report.get("head"), "report's head")
    if problems:
        return problems
    key = _public_key(report["head"])
    if key is None or not _signed(key, report.get("signature"), signed_report_bytes(report)):
        problems.append(
            "the report's signature does not match its contents: its figures, heads or "
            "dataset root are not the ones the log's key signed"
        )
    problems += _chain(report, previous)
    found, log = _entries(report, dataset)
    problems += found
    problems += compare(report, compute(str(report["kind"]), log, period, version_of(report)))
    return problems


# -- files and URLs ----------------------------------------------------------------------


def _read(source: str) -> str:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310
            return str(response.read().decode("utf-8"))
    return Path(source).read_text(encoding="utf-8")


def load(source: str) -> dict[str, Any]:
    """A report or a dataset: JSON, or the JSON a report's HTML page embeds."""
    text = _read(source)
    match = _EMBEDDED.search(text) if text.lstrip().startswith("<") else None
    if match is not None:
        text = match.group(1).replace("<\\/", "</")
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"{source} is not a JSON object")
    return document


def load_templates(source: str) -> dict[str, str]:
    """A DSA report's template files by name: from a folder of CSV files, a zip, or the
    zip's URL."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
    elif Path(source).is_dir():
        return {
            path.name: path.read_text(encoding="utf-8")
            for path in sorted(Path(source).glob("*.csv"))
        }
    else:
        archive = zipfile.ZipFile(source)
    with archive:
        return {
            Path(name).name: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.endswith(".csv")
        }


def dataset_source(report_source: str) -> str:
    """Where a report's dataset is published: beside it, by convention."""
    if report_source.startswith(("http://", "https://")):
        return report_source.rstrip("/") + "/dataset"
    path = Path(report_source)
    return str(path.with_name(path.name.split(".")[0] + ".dataset.json"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Rempart transparency report.")
    parser.add_argument("report", help="the report: a file (JSON or HTML) or its URL")
    parser.add_argument("--dataset", help="its dataset (default: beside the report)")
    parser.add_argument("--previous", help="the previous report of the same kind")
    parser.add_argument(
        "--templates",
        help="a DSA report's files in the 2024/2835 templates: a folder, a zip or its URL",
    )
    args = parser.parse_args(argv)
    try:
        report = load(args.report)
        dataset = load(args.dataset or dataset_source(args.report))
        previous = load(args.previous) if args.previous else None
        templates = load_templates(args.templates) if args.templates else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        print(f"cannot read the report, its dataset or its templates: {exc}", file=sys.stderr)
        return 2
    problems = verify(report, dataset, previous)
    if templates is not None:
        problems += check_templates(report, dataset, templates)
    for problem in problems:
        print(f"✗ {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"✓ {report['kind']} {report['period']}: signed, consistent with the previous report, "
        f"and every figure recomputed from {len(dataset['entries'])} entries proven in the log."
    )
    if templates is not None:
        print(f"✓ every cell of the {len(TEMPLATE_FILES)} template files recomputed likewise.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

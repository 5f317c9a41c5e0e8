"""Data-key rotation: every registered ciphertext (phones, IPs, order targets and documents,
disclosure packages) is re-encrypted under the new key. It writes the audit journal, so it
sits with the entry points, above the domains whose columns it rotates."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine, func, select, update

from rempart.audit import service as audit
from rempart.core import crypto

# Imported for their side effect: each registers the columns it encrypts (core/encrypted.py).
# A domain that keeps ciphertext adds its module here, or its rows are never re-encrypted.
from rempart.core import notify as _core_notify  # noqa: F401
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.encrypted import encrypted_columns
from rempart.escalations import service as _escalations  # noqa: F401
from rempart.legal import disclosures as _legal_disclosures  # noqa: F401
from rempart.legal import orders as _legal_orders  # noqa: F401
from rempart.platform import events
from rempart.platform import models as _platform_models  # noqa: F401
from rempart.preservation import service as _preservation  # noqa: F401
from rempart.reports import notices as _reports_notices  # noqa: F401

CHUNK = 2000
ACTOR = "system:cli"


def rotate_data_key(rt: Runtime, *, console: Console) -> int:
    """Write the new key first, then re-encrypt in chunks: an interrupted rotation is finished
    by running it again (rows already under the active key are skipped)."""
    ring = rt.keys.with_new_data_key()
    crypto.write_key_file(rt.settings.key_file, ring)
    crypto.forget_keyrings()
    total = reencrypt_all(rt.engine, ring=ring, console=console)
    with transaction(rt.engine) as session:
        audit.record(
            session, events.KeysRotated(key_id=ring.active_key_id, reencrypted=total), actor=ACTOR
        )
    return total


def reencrypt_all(engine: Engine, *, ring: crypto.KeyRing, console: Console) -> int:
    total = 0
    with Progress(console=console, transient=True) as progress:
        for registered in encrypted_columns():
            model, id_column, column = registered.model, registered.id_column, registered.column
            purpose = registered.purpose
            with transaction(engine, readonly=True) as session:
                count = session.execute(select(func.count()).select_from(model)).scalar_one()
            task = progress.add_task(f"{model.__tablename__}", total=count)
            last_id = 0
            while True:
                # Read, re-encrypt with no transaction open, then write in a short one:
                # a chunk's decryption and encryption do not hold SQLite's write lock.
                with transaction(engine, readonly=True) as session:
                    rows = session.execute(
                        select(id_column, column)
                        .where(id_column > last_id, column.is_not(None))
                        .order_by(id_column)
                        .limit(CHUNK)
                    ).all()
                if not rows:
                    break
                renewed = [
                    (
                        row_id,
                        blob,
                        ring.encrypt_bytes(
                            ring.decrypt_bytes(blob, purpose=purpose), purpose=purpose
                        ),
                    )
                    for row_id, blob in rows
                    if ring.key_id_of(blob) != ring.active_key_id
                ]
                with transaction(engine) as session:
                    changed = 0
                    for row_id, blob, value in renewed:
                        # Only if the row still holds what we read: an ingest that changed
                        # the phone meanwhile must not be overwritten with the old number
                        # (its blind index would then point at the wrong value).
                        result = session.execute(
                            update(model)
                            .where(id_column == row_id, column == blob)
                            .values({column.key: value})
                            .execution_options(synchronize_session=False)
                        )
                        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
                    audit.record(
                        session,
                        events.TableReencrypted(
                            table=model.__tablename__, rows=changed, key_id=ring.active_key_id
                        ),
                        actor=ACTOR,
                    )
                total += changed
                last_id = rows[-1][0]
                progress.advance(task, len(rows))
    return total

"""Data-key rotation: every ciphertext (phones, IPs, order targets and documents,
disclosure packages) is re-encrypted under the new key."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine, func, select, update

from rempart.audit import service as audit
from rempart.core import crypto
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.legal.disclosures import PACKAGE_PURPOSE
from rempart.legal.models import Disclosure, Order, OrderDocument, OrderTarget
from rempart.legal.orders import DOCUMENT_PURPOSE, JWS_PURPOSE, TARGET_PURPOSE
from rempart.platform import events
from rempart.platform.models import Account, AccountIdentity, Connection

# (table, id column, ciphertext column, purpose)
ENCRYPTED_COLUMNS: list[tuple[Any, Any, Any, str]] = [
    (Account, Account.id, Account.phone_ciphertext, "phone"),
    (AccountIdentity, AccountIdentity.id, AccountIdentity.phone_ciphertext, "phone"),
    (Connection, Connection.id, Connection.ip_ciphertext, "ip"),
    (OrderTarget, OrderTarget.id, OrderTarget.value_ciphertext, TARGET_PURPOSE),
    (Order, Order.id, Order.jws_ciphertext, JWS_PURPOSE),
    (OrderDocument, OrderDocument.order_id, OrderDocument.ciphertext, DOCUMENT_PURPOSE),
    (Disclosure, Disclosure.order_id, Disclosure.package_ciphertext, PACKAGE_PURPOSE),
]
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
        for model, id_column, column, purpose in ENCRYPTED_COLUMNS:
            with transaction(engine, readonly=True) as session:
                count = session.execute(select(func.count()).select_from(model)).scalar_one()
            task = progress.add_task(f"{model.__tablename__}", total=count)
            last_id = 0
            while True:
                with transaction(engine) as session:
                    rows = session.execute(
                        select(id_column, column)
                        .where(id_column > last_id, column.is_not(None))
                        .order_by(id_column)
                        .limit(CHUNK)
                    ).all()
                    if not rows:
                        break
                    changed = 0
                    for row_id, blob in rows:
                        if ring.key_id_of(blob) == ring.active_key_id:
                            continue
                        value = ring.encrypt_bytes(
                            ring.decrypt_bytes(blob, purpose=purpose), purpose=purpose
                        )
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

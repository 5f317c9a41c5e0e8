"""`rempart authority …` (the registry, for admins) and `rempart order …` (the tools an
authority runs on its own machine to sign orders and validations; no database needed)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.table import Column, Table

from rempart.core.cli import CLI_ACTOR, DatabaseUrl, cli_runtime, console, err, fail
from rempart.core.errors import RempartError
from rempart.legal import authorities, jws
from rempart.legal.act_schemas import ActOrderClaims
from rempart.legal.schemas import (
    ORDER_TYPES_TO_ACT,
    AuthorityCreate,
    AuthorityKeyCreate,
    AuthorityKind,
    AuthorityStatus,
    Competence,
    CountersignatureClaims,
    OrderClaims,
    ValidationClaims,
)
from rempart.legal.validations import COUNTERSIGNATURE_TYPE, VALIDATION_TYPE

authority_app = typer.Typer(help="The registry of judicial authorities.", no_args_is_help=True)
order_app = typer.Typer(
    help="Authority-side tools: sign orders and validations.", no_args_is_help=True
)
ORDER_TYPE = "rempart-order+jwt"

KeyFile = Annotated[Path, typer.Option("--key", help="The authority's private key (JWK file).")]


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"[red]Cannot read {what} {path}:[/red] {exc}")
        raise typer.Exit(1) from None
    if not isinstance(value, dict):
        err.print(f"[red]{what} {path} must hold a JSON object.[/red]")
        raise typer.Exit(1)
    return value


def _write_private(path: Path, content: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        err.print(f"[red]{path} exists; refusing to overwrite a key.[/red]")
        raise typer.Exit(1) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def _emit(token: str, out: Path | None) -> None:
    if out is None:
        typer.echo(token)
    else:
        out.write_text(token + "\n")
        err.print(f"Wrote {out}")


# -- authority --------------------------------------------------------------------------


@authority_app.command("keygen")
def keygen(
    kid: Annotated[str, typer.Option(help="Key id the platform will know the key by.")],
    out: Annotated[Path, typer.Option(help="Where to write the private key (JWK, mode 0600).")],
) -> None:
    """Make an Ed25519 key pair: the private JWK goes to --out, the public JWK to stdout."""
    private = jws.generate_private_jwk(kid)
    _write_private(out, json.dumps(private, indent=2) + "\n")
    typer.echo(json.dumps(jws.public_jwk(private)))


@authority_app.command("add")
def add(
    code: Annotated[str, typer.Option(help="Short stable code, used as the orders' iss.")],
    name: Annotated[str, typer.Option(help="Full name of the authority.")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country code.")],
    kind: Annotated[AuthorityKind, typer.Option(help="court, investigating_judge, …")],
    parent: Annotated[
        str | None, typer.Option(help="Code of a police unit's judicial authority.")
    ] = None,
    contact: Annotated[str | None, typer.Option(help="Contact point.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone; derived from the country.")
    ] = None,
    public_key: Annotated[
        list[Path] | None, typer.Option(help="Public key JWK file (repeatable).")
    ] = None,
    verified: Annotated[
        bool, typer.Option(help="Refused: verification needs two admins (API or console).")
    ] = False,
    competence: Annotated[
        list[Competence] | None,
        typer.Option(help="tco_removal, dsa_orders_to_act (repeatable); effective once verified."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register an authority (pending); prints the enrolment code its principal redeems
    for its own token (shown once). Verification needs two admins (API or console)."""
    rt = cli_runtime(database_url)
    try:
        data = AuthorityCreate(
            code=code,
            name=name,
            country=country,
            kind=kind,
            parent=parent,
            contact=contact,
            timezone=timezone,
            keys=[AuthorityKeyCreate(jwk=_read_json(p, "key")) for p in public_key or []],
            verified=verified,
            competences=competence or [],
        )
        with rt.unit_of_work() as session:
            created = authorities.add_authority(
                session, data=data, actor=CLI_ACTOR, settings=rt.settings
            )
    except ValidationError as exc:
        err.print(f"[red]invalid_authority[/red]: {_problems(exc)}")
        raise typer.Exit(1) from None
    except RempartError as exc:
        raise fail(exc) from None
    a = created.authority
    console.print(f"Registered {a.code} ({a.kind}, {a.country}, {a.status}, {a.timezone}).")
    typer.echo(created.enrolment.code)


@authority_app.command("list")
def list_(
    country: Annotated[str | None, typer.Option(help="Only this country.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List registered authorities and their keys."""
    rt = cli_runtime(database_url)
    with rt.unit_of_work(readonly=True) as session:
        rows = authorities.list_authorities(session, country=country)
    table = Table("name", "country", "kind", "parent", "status", "keys")
    # Codes are what the other commands take: never cut them short.
    table.columns.insert(
        0, Column("code", no_wrap=True, min_width=max((len(a.code) for a in rows), default=4))
    )
    for a in rows:
        keys = ", ".join(k.kid + (" (revoked)" if k.revoked_at else "") for k in a.keys)
        table.add_row(a.code, a.name, a.country, a.kind, a.parent or "", a.status, keys)
    console.print(table)


def _set_status(code: str, status: AuthorityStatus, database_url: str | None) -> None:
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            result = authorities.set_status(session, code=code, status=status, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"{result.code} is {result.status}.")


@authority_app.command("verify")
def verify(code: str, database_url: DatabaseUrl = None) -> None:
    """Refused (four_eyes_required): verifying needs two admins, through the API or the
    console. Kept so that the refusal says how."""
    _set_status(code, AuthorityStatus.VERIFIED, database_url)


@authority_app.command("suspend")
def suspend(code: str, database_url: DatabaseUrl = None) -> None:
    """Suspend an authority: its keys are refused at intake."""
    _set_status(code, AuthorityStatus.SUSPENDED, database_url)


@authority_app.command("key-add")
def key_add(
    code: str,
    public_key: Annotated[Path, typer.Option(help="Public key JWK file.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register another key for a pending authority; for a verified one, two admins
    propose and confirm it (API or console)."""
    rt = cli_runtime(database_url)
    try:
        data = AuthorityKeyCreate(jwk=_read_json(public_key, "key"))
        with rt.unit_of_work() as session:
            key = authorities.add_key(session, code=code, data=data, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"Key {key.kid} registered for {code}.")


@authority_app.command("contact")
def contact(
    code: str,
    value: Annotated[str, typer.Option("--contact", help="The contact reviewers call back.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Change the registered contact (orders in the next 30 days need a call-back)."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            authorities.set_contact(session, code=code, contact=value, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"{code}: contact changed.")


@authority_app.command("key-revoke")
def key_revoke(kid: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a key: orders signed with it are refused from now on."""
    rt = cli_runtime(database_url)
    try:
        with rt.unit_of_work() as session:
            authorities.revoke_key(session, kid=kid, actor=CLI_ACTOR)
    except RempartError as exc:
        raise fail(exc) from None
    console.print(f"Key {kid} revoked.")


# -- order (authority side) -------------------------------------------------------------


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'order'}: {e['msg']}" for e in exc.errors()
    )


def _jsonable(value: Any) -> Any:
    """YAML gives dates and datetimes as objects; the claims carry them as ISO text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@order_app.command("sign")
def sign(
    order_file: Annotated[Path, typer.Argument(help="The order as YAML or JSON.")],
    key: KeyFile,
    document: Annotated[Path, typer.Option(help="The signed order document (PDF).")],
    out: Annotated[Path | None, typer.Option(help="Write the JWS here, not to stdout.")] = None,
    valid_for_hours: Annotated[int, typer.Option(min=1, max=720)] = 168,
    countersignature: Annotated[
        Path | None,
        typer.Option(
            help="The validating authority's countersignature (from `rempart order "
            "countersign`), for an order that names a validating_authority."
        ),
    ] = None,
) -> None:
    """Sign an order: a compact JWS (EdDSA) that carries the document's SHA-256.

    A police order validated by a judge or prosecutor names it in `validating_authority`
    and carries its countersignature: give the order file a `jti`, have the validating
    authority run `rempart order countersign` on it, then sign with --countersignature.
    """
    try:
        loaded = yaml.safe_load(order_file.read_text())
        content = document.read_bytes()
    except (OSError, yaml.YAMLError) as exc:
        err.print(f"[red]Cannot read the order or its document:[/red] {exc}")
        raise typer.Exit(1) from None
    if not isinstance(loaded, dict):
        err.print("[red]The order file must hold a mapping of claims.[/red]")
        raise typer.Exit(1)
    claims: dict[str, Any] = _jsonable(loaded)
    digest = hashlib.sha256(content).hexdigest()
    given = claims.get("document") or {}
    if isinstance(given, dict) and given.get("sha256") not in (None, digest):
        err.print("[red]The order names another document than --document (SHA-256 differs).[/red]")
        raise typer.Exit(1)
    now = datetime.now(UTC)
    claims.setdefault("iat", int(now.timestamp()))
    claims.setdefault("exp", int((now + timedelta(hours=valid_for_hours)).timestamp()))
    claims.setdefault("jti", uuid.uuid4().hex)
    claims["document"] = {
        **(given if isinstance(given, dict) else {}),
        "sha256": digest,
        "media_type": "application/pdf",
        "filename": document.name,
    }
    if countersignature is not None:
        try:
            claims["validation"] = countersignature.read_text().strip()
        except OSError as exc:
            err.print(f"[red]Cannot read the countersignature:[/red] {exc}")
            raise typer.Exit(1) from None
    try:
        # Orders to act and removal orders have claims of their own (no targets, no data).
        order_type = claims.get("order_type")
        if isinstance(order_type, str) and order_type in ORDER_TYPES_TO_ACT:
            ActOrderClaims.model_validate(claims)
        else:
            OrderClaims.model_validate(claims)
    except ValidationError as exc:
        err.print(f"[red]The order is not valid:[/red] {_problems(exc)}")
        raise typer.Exit(1) from None
    _emit(_signed(claims, key, ORDER_TYPE), out)


@order_app.command("countersign")
def countersign(
    order_file: Annotated[Path, typer.Argument(help="The police order (YAML or JSON).")],
    issuer: Annotated[str, typer.Option(help="Code of the validating judicial authority.")],
    key: KeyFile,
    document: Annotated[Path, typer.Option(help="The order document (PDF) being validated.")],
    out: Annotated[Path | None, typer.Option(help="Write the JWS here, not to stdout.")] = None,
    valid_for_hours: Annotated[int, typer.Option(min=1, max=720)] = 168,
) -> None:
    """Countersign a police order as its validating judicial authority: a JWS over the
    order's issuer, jti and document SHA-256, which the police then embed with
    `rempart order sign --countersignature`."""
    try:
        loaded = yaml.safe_load(order_file.read_text())
        digest = hashlib.sha256(document.read_bytes()).hexdigest()
    except (OSError, yaml.YAMLError) as exc:
        err.print(f"[red]Cannot read the order or its document:[/red] {exc}")
        raise typer.Exit(1) from None
    if not isinstance(loaded, dict) or not loaded.get("iss") or not loaded.get("jti"):
        err.print("[red]The order file must name its issuer (iss) and carry a jti.[/red]")
        raise typer.Exit(1)
    now = datetime.now(UTC)
    claims = {
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=valid_for_hours)).timestamp()),
        "jti": uuid.uuid4().hex,
        "countersigns": {
            "iss": str(loaded["iss"]),
            "jti": str(loaded["jti"]),
            "document_sha256": digest,
        },
    }
    try:
        CountersignatureClaims.model_validate(claims)
    except ValidationError as exc:
        err.print(f"[red]The countersignature is not valid:[/red] {_problems(exc)}")
        raise typer.Exit(1) from None
    _emit(_signed(claims, key, COUNTERSIGNATURE_TYPE), out)


@order_app.command("validate")
def validate(
    reference: Annotated[str, typer.Argument(help="The platform's reference of the order.")],
    issuer: Annotated[str, typer.Option(help="Code of the validating judicial authority.")],
    key: KeyFile,
    out: Annotated[Path | None, typer.Option(help="Write the JWS here, not to stdout.")] = None,
) -> None:
    """Sign the judicial validation of an emergency order (due within 48 hours)."""
    now = datetime.now(UTC)
    claims = {
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=48)).timestamp()),
        "jti": uuid.uuid4().hex,
        "validates": reference,
    }
    try:
        ValidationClaims.model_validate(claims)
    except ValidationError as exc:
        err.print(f"[red]The validation is not valid:[/red] {_problems(exc)}")
        raise typer.Exit(1) from None
    _emit(_signed(claims, key, VALIDATION_TYPE), out)


def _signed(claims: dict[str, Any], key: Path, typ: str) -> str:
    try:
        return jws.sign(claims, private_jwk=_read_json(key, "key"), typ=typ)
    except (ValueError, TypeError, KeyError) as exc:
        err.print(f"[red]Cannot sign with this key:[/red] {exc}")
        raise typer.Exit(1) from None

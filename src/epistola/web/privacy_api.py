"""Privacy API (the data protection officer's): consent with proof, suppression lists, data-subject rights.

Every route needs the ``privacy`` permission (the admin and privacy roles), except reading the consent
policy. Addresses are sent in request bodies, never in URLs, so they stay out of access logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from epistola.accounts import ApiKey, Permission
from epistola.consent import preferences as prefs
from epistola.consent import suppression
from epistola.consent.erasure import erase_customer
from epistola.consent.export import export_customer, jsonable
from epistola.consent.keys import Keyring
from epistola.consent.ledger import history, ledger_rows, record_entries, standings
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import ConsentEntry, replay
from epistola.consent.policy import parse_policy
from epistola.consent.rectify import rectify
from epistola.consent.subjects import person_ids
from epistola.errors import InputError, NotFound, Problem
from epistola.web.deps import API_ORIGIN, ConnDep, ReaderKey, get_app, require

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
PrivacyKey = Annotated[ApiKey, require(Permission.PRIVACY)]


class ProofIn(BaseModel):
    kind: Literal["form", "api", "paper", "phone", "import"] = "api"
    text_version: str | None = Field(None, max_length=40, description="Version of the consent statement shown.")
    text_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the statement shown.")
    ip: str | None = Field(None, max_length=45)
    user_agent: str | None = Field(None, max_length=300)
    reference: str | None = Field(None, max_length=200, description="Form id, call id, document number.")


class ConsentIn(BaseModel):
    channel: Literal["email", "sms", "post", "phone", "push", "web"]
    purpose: Literal["marketing", "service", "profiling"]
    status: Literal["granted", "denied", "withdrawn"]
    source: str = Field("api", min_length=1, max_length=100)
    recorded_at: datetime | None = Field(None, description="When the customer said it (default: now).")
    expires_at: datetime | None = None
    proof: ProofIn = Field(default_factory=ProofIn)


@router.get("/customers/{customer_id}/consents", summary="Consent in force and the full ledger with proofs")
def consents(customer_id: int, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    ids = person_ids(conn, customer_id)
    now = get_app(request).clock()
    return {
        "customer_id": ids[0],
        "in_force": [
            {"customer_id": c, "channel": ch, "purpose": p, "status": s.status, "expires_at": s.expires_at}
            for (c, ch, p), s in sorted(standings(conn, ids, now=now).items())
        ],
        "history": [jsonable({"id": r.id, **vars(r.entry)}) for r in history(conn, ids)],
    }


@router.post("/customers/{customer_id}/consents", status_code=201, summary="Record a consent with its proof")
def add_consent(customer_id: int, body: ConsentIn, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    root = person_ids(conn, customer_id)[0]
    now = get_app(request).clock()
    if body.recorded_at is not None and body.recorded_at.tzinfo is None:
        raise InputError("times need a zone", problems=[Problem(message="add Z or an offset", field="recorded_at")])
    entry = ConsentEntry(
        customer_id=root,
        channel=body.channel,
        purpose=body.purpose,
        status=body.status,
        source=body.source,
        recorded_at=body.recorded_at or now,
        expires_at=body.expires_at,
        proof={k: v for k, v in body.proof.model_dump().items() if v is not None},
    )
    record_entries(conn, [entry], now=now, actor=key.name, origin=API_ORIGIN)
    return dict(jsonable(vars(entry)))


class Address(BaseModel):
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40, description="E.164, e.g. +48601234567")

    @model_validator(mode="after")
    def _one(self) -> Address:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of email or phone")
        return self

    def identifier(self) -> str:
        if self.email is not None:
            return suppression.identifier("email", suppression.normalise_email(self.email))
        return suppression.identifier("phone", suppression.normalise_phone(self.phone or ""))


class SuppressionIn(Address):
    scope: Literal["all", "email", "sms", "post", "phone", "push", "web"] = "all"
    reason: Literal["hard_bounce", "complaint", "legal", "manual"] = "manual"


class LiftIn(Address):
    scope: Literal["all", "email", "sms", "post", "phone", "push", "web"] = "all"


@router.post("/suppressions", status_code=201, summary="Suppress an address (stored as a keyed hash)")
def suppress(body: SuppressionIn, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, int]:
    app = get_app(request)
    added = suppression.add(
        conn,
        Keyring.from_settings(app.settings),
        [body.identifier()],
        scope=body.scope,
        reason=body.reason,
        source=f"api:{key.name}",
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
    )
    return {"added": added}


@router.post("/suppressions/lift", summary="Lift a suppression of an address for one scope")
def lift(body: LiftIn, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, int]:
    app = get_app(request)
    removed = suppression.remove(
        conn,
        Keyring.from_settings(app.settings),
        [body.identifier()],
        scope=body.scope,
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
    )
    return {"removed": removed}


@router.post("/suppressions/check", summary="Is an address suppressed, where and why?")
def check_suppression(body: Address, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    found = suppression.lookup(conn, Keyring.from_settings(get_app(request).settings), [body.identifier()])
    rows = [s for items in found.values() for s in items]
    return {
        "suppressed": bool(rows),
        "entries": [{"scope": s.scope, "reason": s.reason, "since": s.created_at} for s in rows],
    }


@router.get("/customers/{customer_id}/export", summary="Everything about a person, as JSON (art. 15, 20)")
def export(customer_id: int, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    app = get_app(request)
    return export_customer(
        conn,
        customer_id,
        keyring=Keyring.from_settings(app.settings),
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
    )


class ErasureIn(BaseModel):
    confirm: Literal[True] = Field(description="Must be true: an erasure cannot be undone.")
    verify: bool = Field(True, description="Scan every table afterwards and refuse if anything is left.")


@router.post("/customers/{customer_id}/erasure", summary="Erase a person everywhere (art. 17)")
def erase(customer_id: int, body: ErasureIn, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    app = get_app(request)
    report = erase_customer(
        conn,
        customer_id,
        keyring=Keyring.from_settings(app.settings),
        now=app.clock(),
        actor=key.name,
        origin=API_ORIGIN,
        verify=body.verify,
    )
    return dict(jsonable(vars(report)))


class CorrectionIn(BaseModel):
    """Only the fields given change; an empty string or null clears a field."""

    model_config = ConfigDict(extra="forbid")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = Field(None, description="E.164, or national in the customer's country")
    gender: str | None = Field(None, description="f, m or x")
    birth_date: str | None = Field(None, description="YYYY-MM-DD")
    locale: str | None = None
    country: str | None = Field(None, description="ISO 3166 alpha-2")
    region: str | None = None
    city: str | None = None
    postcode: str | None = None
    street: str | None = None
    timezone: str | None = None


@router.patch("/customers/{customer_id}", summary="Correct a customer's data (art. 16)")
def correct(customer_id: int, body: CorrectionIn, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    app = get_app(request)
    changes = body.model_dump(exclude_unset=True)
    row = rectify(conn, customer_id, changes, now=app.clock(), actor=key.name, origin=API_ORIGIN)
    return dict(jsonable(row))


@router.get("/customers/{customer_id}/links", summary="The customer's preference-centre link (for support staff)")
def customer_links(customer_id: int, conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, str]:
    app = get_app(request)
    cid = prefs.resolve(conn, customer_id)
    if cid is None:
        person_ids(conn, customer_id)  # NotFound for an unknown id
        raise NotFound(f"customer {customer_id} was erased")
    return {"preferences": PrivacyLinks.from_settings(app.settings).preferences_url(cid)}


@router.get("/policy", summary="The consent policy in force: which channel × purpose × country needs opt-in")
def policy(key: ReaderKey, request: Request) -> dict[str, Any]:
    rules = parse_policy(get_app(request).settings.consent_policy).describe()
    return {"rules": [{"channel": c, "purpose": p, "country": k, "requires": r} for c, p, k, r in rules]}


@router.get("/consents/verify", summary="Replay the whole ledger and compare with the state the store derives")
def verify_ledger(conn: ConnDep, key: PrivacyKey, request: Request) -> dict[str, Any]:
    now = get_app(request).clock()
    rows = list(ledger_rows(conn))
    replayed = replay(rows, now)
    customers = sorted({cid for cid, _, _ in replayed})
    derived = {k: s.status for k, s in standings(conn, customers, now=now).items()}
    mismatches = sorted(k for k in set(replayed) | set(derived) if replayed.get(k) != derived.get(k))
    return {"entries": len(rows), "states": len(replayed), "consistent": not mismatches, "mismatches": mismatches[:100]}

"""The consent vocabulary and its pure rules: what an entry is, how the state in force is derived from the
history, and how the states of customers found to be one person combine without widening consent.

Nothing here touches a database: the ledger (`ledger.py`) stores entries and asks these functions, and
the tests replay random histories through both to prove they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from epistola.errors import InputError, Problem

Status = Literal["granted", "denied", "withdrawn"]
Channel = Literal["email", "sms", "post", "phone", "push", "web"]
Purpose = Literal["marketing", "service", "profiling"]

STATUSES: tuple[str, ...] = get_args(Status)
CHANNELS: tuple[str, ...] = get_args(Channel)
PURPOSES: tuple[str, ...] = get_args(Purpose)
RESTRICTIVE: frozenset[str] = frozenset({"denied", "withdrawn"})

# Proof keys that identify a person (or their device) and are removed by an erasure; the rest (kind,
# text version and hash, source record) stays as the record of what happened.
PERSONAL_PROOF_KEYS: frozenset[str] = frozenset({"ip", "user_agent", "email", "phone", "address", "name", "from"})


@dataclass(frozen=True, kw_only=True)
class ConsentEntry:
    """One line of the ledger: what a customer said about one channel and purpose, when, and the proof."""

    customer_id: int
    channel: str
    purpose: str
    status: Status
    source: str
    recorded_at: datetime
    proof: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class LedgerRow:
    """A stored entry: the id breaks ties between entries recorded at the same moment (later id wins)."""

    id: int
    entry: ConsentEntry


def check_entry(entry: ConsentEntry, *, where: str = "consent") -> None:
    """Refuse an entry with an unknown channel, purpose or status, a naive time, or an expiry before it."""
    problems = []
    if entry.channel not in CHANNELS:
        problems.append(Problem(message=f"unknown channel; use one of {', '.join(CHANNELS)}", field=f"{where}.channel"))
    if entry.purpose not in PURPOSES:
        problems.append(Problem(message=f"unknown purpose; use one of {', '.join(PURPOSES)}", field=f"{where}.purpose"))
    if entry.status not in STATUSES:
        problems.append(Problem(message=f"unknown status; use one of {', '.join(STATUSES)}", field=f"{where}.status"))
    if not entry.source.strip() or len(entry.source) > 100:
        problems.append(Problem(message="must be 1 to 100 characters", field=f"{where}.source"))
    for name in ("recorded_at", "expires_at"):
        moment = getattr(entry, name)
        if moment is not None and moment.tzinfo is None:
            problems.append(Problem(message="must carry a time zone (UTC)", field=f"{where}.{name}"))
    if not problems and entry.expires_at is not None and entry.expires_at <= entry.recorded_at:
        problems.append(Problem(message="must be later than recorded_at", field=f"{where}.expires_at"))
    if problems:
        raise InputError("invalid consent entry", problems=problems)


def effective(status: str, expires_at: datetime | None, now: datetime) -> Status:
    """The status an entry stands for at `now`: a grant past its expiry counts as withdrawn."""
    if status == "granted" and expires_at is not None and expires_at <= now:
        return "withdrawn"
    return status  # type: ignore[return-value]


Key = tuple[int, str, str]  # (customer, channel, purpose)


def replay(rows: Iterable[LedgerRow], now: datetime) -> dict[Key, Status]:
    """Rebuild the state in force at `now` from the history alone: per customer, channel and purpose, the
    entry recorded last (ties: the later id) wins; entries recorded after `now` do not count yet."""
    latest: dict[Key, tuple[datetime, int, ConsentEntry]] = {}
    for row in rows:
        e = row.entry
        if e.recorded_at > now:
            continue
        key = (e.customer_id, e.channel, e.purpose)
        seen = latest.get(key)
        if seen is None or (e.recorded_at, row.id) > (seen[0], seen[1]):
            latest[key] = (e.recorded_at, row.id, e)
    return {key: effective(e.status, e.expires_at, now) for key, (_, _, e) in latest.items()}


@dataclass(frozen=True, kw_only=True)
class Standing:
    """One customer's state for one channel and purpose, with what a merge needs to know about it."""

    status: Status
    expires_at: datetime | None = None


def merge_standing(standings: Iterable[Standing | None]) -> Standing | None:
    """The state of customers found to be one person: never wider than any of theirs.

    A refusal by any of them wins over grants by the others (withdrawn before denied, the stronger word);
    a grant survives only where nobody refused, and then lasts only as long as the shortest grant.
    Customers with no entry have said nothing and do not count.
    """
    said = [s for s in standings if s is not None]
    if not said:
        return None
    for word in ("withdrawn", "denied"):
        if any(s.status == word for s in said):
            return Standing(status=word)
    expiries = [s.expires_at for s in said if s.expires_at is not None]
    return Standing(status="granted", expires_at=min(expiries) if expiries else None)


def is_narrower_or_equal(merged: Standing | None, parts: Mapping[int, Standing | None]) -> bool:
    """True when `merged` permits nothing that any part with an opinion refused (the merge invariant)."""
    if merged is None or merged.status in RESTRICTIVE:
        return True
    return not any(p is not None and p.status in RESTRICTIVE for p in parts.values())


def scrub_proof(proof: Mapping[str, Any]) -> dict[str, Any]:
    """The proof without anything that identifies the person, marked as erased."""
    kept = {k: v for k, v in proof.items() if k not in PERSONAL_PROOF_KEYS}
    kept["erased"] = True
    return kept

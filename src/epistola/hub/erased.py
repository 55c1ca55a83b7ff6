"""Recognising an erased person in what an import would otherwise keep raw, so nothing of theirs returns.

An erasure keeps keyed hashes of the person's e-mail addresses, phone numbers and source record keys
(`epistola.consent.suppression`). Customer imports skip records matching them (`epistola.hub.ingest`);
this module covers the rest of what an import writes: rejected rows, whose raw text may name the person
(`text_identifiers`), and events nobody can be tied to, which keep the identifiers they came with
(`event_identifiers`). Both are counted as ``skipped: erased subject`` and stored nowhere.

Nothing here runs unless the store holds erasures (`ErasedCheck.open` returns None), and a batch is
looked up in one query per 300 hashes, never row by row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection

from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.errors import Conflict
from epistola.hub.contacts import Unusable, normalise_phone

SKIPPED_ERASED = "erased subject"  # the `skipped` reason of anything belonging to an erased person

_EMAIL = re.compile(r"[^\s\"'<>,;:()\[\]{}]+@[^\s\"'<>,;:()\[\]{}]+\.[^\s\"'<>,;:()\[\]{}]+")
_PHONE = re.compile(r"\+?\(?\d[\d\s().\-/]{5,22}\d")
_CELL = re.compile(r"[\t,;|]")


class ErasedCheck:
    """Looks batches of candidate identifiers up among the erased; `open` gives one only when needed."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @classmethod
    def open(cls, conn: Connection, keyring: Keyring | None) -> ErasedCheck | None:
        """A check when the store holds erasures, else None; without the key it refuses (fails closed)."""
        if not suppression.any_erased(conn):
            return None
        if keyring is None:
            raise Conflict(
                "this store holds erased people, and the import was started without the secret key",
                hint="Pass the keyring (Keyring.from_settings) so records of erased people are skipped.",
            )
        return cls(keyring)

    def found(self, conn: Connection, identifiers: Iterable[str]) -> set[str]:
        """The identifiers (suppression texts) that belong to an erased person."""
        wanted = set(identifiers)
        return suppression.erased(conn, self.keyring, wanted) if wanted else set()

    def matching(self, conn: Connection, candidates: Sequence[Iterable[str]]) -> set[int]:
        """Positions in `candidates` (one set of identifiers per item) naming an erased person."""
        own = [set(c) for c in candidates]
        found = self.found(conn, (i for ids in own for i in ids))
        return {n for n, ids in enumerate(own) if ids & found} if found else set()

    def unlinked_events(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> set[int]:
        """Positions of the event rows tied to no customer whose ``_ident`` names an erased person."""
        unlinked = [n for n, r in enumerate(rows) if r["customer_id"] is None]
        candidates = [event_identifiers((rows[n]["properties"] or {}).get("_ident")) for n in unlinked]
        return {unlinked[n] for n in self.matching(conn, candidates)}

    def keep_rejects(
        self,
        conn: Connection,
        rejects: list[dict[str, Any]],
        *,
        key_sources: Sequence[str],
        regions: Sequence[str] = (),
    ) -> tuple[list[dict[str, Any]], int]:
        """The rejected rows that name no erased person (by `text_identifiers` of their raw text), and how
        many were left out."""
        if not any(r["raw"] for r in rejects):
            return rejects, 0
        candidates = [text_identifiers(r["raw"], key_sources=key_sources, regions=regions) for r in rejects]
        theirs = self.matching(conn, candidates)
        return [r for n, r in enumerate(rejects) if n not in theirs], len(theirs)


def event_identifiers(ident: dict[str, Any] | None) -> set[str]:
    """The suppression identifiers of an event's ``_ident``: its source record key and its e-mail."""
    out: set[str] = set()
    if not ident:
        return out
    if ident.get("source") and ident.get("key"):
        out.add(suppression.record_identifier(str(ident["source"]), str(ident["key"])))
    if ident.get("email"):
        out.add(suppression.identifier("email", str(ident["email"])))
    return out


def text_identifiers(text: str, *, key_sources: Sequence[str], regions: Sequence[str] = ()) -> set[str]:
    """Every identifier a rejected row's raw text could name someone by.

    The row failed the mapping, so which cell is the key is unknown: every value (the strings of a JSON
    object, else the cells between delimiters) is tried as a source key of `key_sources`, every e-mail
    found in the text as an address, and every run of digits as a phone number, read in each of
    `regions` (international numbers in none). Generous on purpose: a false match only drops a reject.
    """
    out: set[str] = set()
    for value in _values(text):
        for source in key_sources:
            out.add(suppression.record_identifier(source, value))
    for found in _EMAIL.findall(text):
        out.add(suppression.identifier("email", found.strip(".")))
    for found in _PHONE.findall(text):
        for region in [None, *regions]:
            try:
                e164 = normalise_phone(found, [region] if region else [])
            except Unusable:
                continue
            out.add(suppression.identifier("phone", e164))
    return out


def _values(text: str) -> Iterator[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if parsed is not None and not isinstance(parsed, str | int | float | bool):
        yield from _scalars(parsed)
        return
    for cell in _CELL.split(text):
        cell = cell.strip().strip('"').strip()
        if cell:
            yield cell


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and str(value).strip():
        yield str(value).strip()

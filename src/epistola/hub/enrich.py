"""Enrichment: what the company learns about customers beyond the sources' own records.

- **Overlays** bought from third parties, keyed by something customers have (a postcode prefix): loaded
  into `overlay_values`, applied to each customer's golden postcode as profile attributes.
- **Answers** customers give (surveys): `record_answer` keeps each in `profile_attributes` with where and
  when it came from; `ProfileStore` offers that to the feedback code as its `ProfileWriter`.
- **Modelled values** live in `epistola.hub.modelled`, in a table of their own.

Identity resolution rebuilds `customers.attributes` from source records; `apply_profiles` writes the
enrichment back into it (overlay and answers under their own names, modelled values prefixed
``modelled_`` with their confidence), so segments and templates see it and never mistake a modelled
value for a stated one.

`apply_profiles` also takes away what enrichment no longer supplies: an overlay value whose customer's
postcode changed or was cleared by a re-import, a modelled value the customer now states, an answer
the customer cleared. A name the golden record also keeps (``store``, ``card_issued``…) then falls back to
the source record its lineage names; anything else is removed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from epistola import audit
from epistola.errors import InputError, Problem
from epistola.hub.readers import detect_encoding
from epistola.identity.golden import ATTRIBUTE_FIELDS
from epistola.store.dialect import insert_ignoring_conflicts
from epistola.store.schema import (
    customer_lineage,
    customers,
    modelled_values,
    overlay_values,
    profile_attributes,
    source_records,
)

# How long a postcode prefix each country's overlay uses (US ZIP3, Russian first three, Polish district).
PREFIX_LENGTH = {"US": 3, "RU": 3, "PL": 2}
ORIGINS = ("overlay", "survey", "stated")
MODELLED_PREFIX = "modelled_"


@dataclass(frozen=True, kw_only=True)
class OverlayReport:
    overlay: str
    rows: int
    customers: int  # customers whose postcode found a row
    attributes: int  # profile attributes written


def load_overlay(conn: Connection, path: Path, *, name: str, now: datetime, actor: str = "system") -> int:
    """Load an overlay file (country, postcode_prefix, then any attribute columns); replaces the old one.

    Every row is checked first: a bad row stops the load with its row and field, and nothing changes.
    """
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in ("country", "postcode_prefix") if c not in header]
        if missing:
            raise InputError(
                f"{path.name} lacks column(s) {', '.join(missing)}",
                problems=[Problem(message="column missing", file=path.name, row=0, field=c) for c in missing],
            )
        rows: list[dict[str, Any]] = []
        problems: list[Problem] = []
        for number, row in enumerate(reader, start=1):
            country, key = (row.get("country") or "").strip().upper(), (row.get("postcode_prefix") or "").strip()
            if len(country) != 2 or not country.isalpha():
                problems.append(
                    Problem(message="not a two-letter country code", file=path.name, row=number, field="country")
                )
            if not key or len(key) > 20:
                problems.append(
                    Problem(message="empty or too long", file=path.name, row=number, field="postcode_prefix")
                )
            attributes = {
                k: v for k, v in row.items() if k not in ("country", "postcode_prefix") and v not in (None, "")
            }
            rows.append({"overlay": name, "country": country, "key": key, "attributes": attributes, "loaded_at": now})
    if problems:
        raise InputError(f"{path.name} has {len(problems)} bad row(s); nothing was loaded", problems=problems[:50])
    conn.execute(delete(overlay_values).where(overlay_values.c.overlay == name))
    for start in range(0, len(rows), 5_000):
        insert_ignoring_conflicts(conn, overlay_values, rows[start : start + 5_000], ["overlay", "country", "key"])
    audit.record(
        conn, at=now, actor=actor, action="overlay.load", entity="overlay", entity_id=name, details={"rows": len(rows)}
    )
    return len(rows)


def postcode_prefix(country: str | None, postcode: str | None) -> str | None:
    width = PREFIX_LENGTH.get(country or "")
    digits = "".join(ch for ch in (postcode or "") if ch.isdigit())
    return digits[:width] if width and len(digits) >= width else None


def apply_overlay(conn: Connection, *, name: str, now: datetime, actor: str = "system") -> OverlayReport:
    """Give every customer with a known country and postcode the overlay's attributes for its prefix."""
    table = {
        (c, k): a
        for c, k, a in conn.execute(
            select(overlay_values.c.country, overlay_values.c.key, overlay_values.c.attributes).where(
                overlay_values.c.overlay == name
            )
        )
    }
    if not table:
        raise InputError(f"no overlay named {name!r} is loaded", hint="Load it first: epistola enrich overlay FILE")
    values: list[tuple[int, str, Any]] = []
    matched = 0
    rows = conn.execute(
        select(customers.c.id, customers.c.country, customers.c.postcode).where(
            customers.c.merged_into.is_(None), customers.c.postcode.is_not(None)
        )
    )
    for customer_id, country, postcode in rows:
        found = table.get((country, postcode_prefix(country, postcode)))
        if found:
            matched += 1
            values.extend((int(customer_id), f"{name}.{k}", v) for k, v in found.items())
    # Customers whose postcode no longer finds a row (a re-import cleared or changed it) lose its values.
    conn.execute(
        delete(profile_attributes).where(profile_attributes.c.origin == "overlay", profile_attributes.c.source == name)
    )
    written = write_profile(conn, values, origin="overlay", source=name, at=now)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="overlay.apply",
        entity="overlay",
        entity_id=name,
        details={"customers": matched, "attributes": written},
    )
    return OverlayReport(overlay=name, rows=len(table), customers=matched, attributes=written)


def write_profile(
    conn: Connection, values: Iterable[tuple[int, str, Any]], *, origin: str, source: str, at: datetime
) -> int:
    """Upsert (customer, name) -> value; None removes the attribute. Returns how many were written."""
    items = list(values)
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    for start in range(0, len(items), 900):
        chunk = items[start : start + 900]
        ids = sorted({c for c, _, _ in chunk})
        names = sorted({n for _, n, _ in chunk})
        conn.execute(
            delete(profile_attributes).where(
                profile_attributes.c.customer_id.in_(ids), profile_attributes.c.name.in_(names)
            )
        )
        rows = [
            {"customer_id": c, "name": n, "value": v, "origin": origin, "source": source, "observed_at": at}
            for c, n, v in chunk
            if v is not None
        ]
        if rows:
            conn.execute(profile_attributes.insert(), rows)
    return sum(1 for _, _, v in items if v is not None)


def record_answer(
    conn: Connection,
    customer_id: int,
    answers: Mapping[str, Any],
    *,
    survey: str,
    at: datetime,
    actor: str = "system",
) -> None:
    """What a customer said in a survey, into their profile (the latest answer wins), with its lineage,
    and at once into `customers.attributes` for segments and templates."""
    write_profile(conn, ((customer_id, k, v) for k, v in answers.items()), origin="survey", source=survey, at=at)
    apply_profiles(conn, [customer_id], now=at, cleared=[k for k, v in answers.items() if v is None])
    audit.record(
        conn,
        at=at,
        actor=actor,
        action="profile.answer",
        entity="customer",
        entity_id=customer_id,
        details={"survey": survey, "fields": sorted(answers)},
    )


class ProfileStore:
    """The hub's `ProfileWriter` (see `epistola.feedback.profile`): answers kept in `profile_attributes`,
    so they survive identity resolution rebuilding `customers.attributes`."""

    def write(
        self, conn: Connection, customer_id: int, values: Mapping[str, Any], *, source: str, at: datetime
    ) -> None:
        write_profile(conn, ((customer_id, k, v) for k, v in values.items()), origin="survey", source=source, at=at)
        apply_profiles(conn, [customer_id], now=at, cleared=[k for k, v in values.items() if v is None])


def apply_profiles(
    conn: Connection, customer_ids: Iterable[int] | None = None, *, now: datetime, cleared: Iterable[str] = ()
) -> int:
    """Write profile attributes and modelled values into `customers.attributes` (all customers, or some),
    and take away the ones enrichment no longer supplies. Returns how many customers changed.

    Stated source attributes stay as identity resolution set them; enrichment adds its own names, and a
    modelled value appears only as ``modelled_<field>`` with ``modelled_<field>_confidence``. Names of
    loaded overlays (``<overlay>.<name>``), modelled names and `cleared` (answers just cleared) that have
    no value any more fall back to the golden record's value (by its lineage) or are removed.
    """
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    cleared = frozenset(cleared)
    owned = (MODELLED_PREFIX, *(f"{o}." for o in _overlay_names(conn)))
    changed = 0
    for chunk in _customer_chunks(conn, wanted):
        extra = _enrichment(conn, list(chunk))
        stale = {
            cid: [k for k in attrs if k not in extra.get(cid, {}) and (k in cleared or k.startswith(owned))]
            for cid, attrs in chunk.items()
        }
        fallback = _golden_values(
            conn, {cid: [k for k in keys if k in ATTRIBUTE_FIELDS] for cid, keys in stale.items()}
        )
        changes = []
        for cid, current in chunk.items():
            attributes = {k: v for k, v in current.items() if k not in stale[cid]}
            attributes.update({k: v for (c, k), v in fallback.items() if c == cid})
            attributes.update(extra.get(cid, {}))
            if attributes != current:
                changes.append({"b_id": cid, "b_attributes": attributes})
        if changes:
            conn.execute(
                update(customers)
                .where(customers.c.id == bindparam("b_id"))
                .values(attributes=bindparam("b_attributes"), updated_at=now),
                changes,
            )
        changed += len(changes)
    return changed


def _overlay_names(conn: Connection) -> set[str]:
    loaded = set(conn.execute(select(overlay_values.c.overlay).distinct()).scalars())
    applied = conn.execute(
        select(profile_attributes.c.source).where(profile_attributes.c.origin == "overlay").distinct()
    )
    return loaded | set(applied.scalars())


def _customer_chunks(
    conn: Connection, wanted: list[int] | None, size: int = 900
) -> Iterable[dict[int, dict[str, Any]]]:
    """{customer id: attributes}, `size` customers at a time (the wanted ones, or all by last-seen id)."""
    query = select(customers.c.id, customers.c.attributes).order_by(customers.c.id)
    if wanted is not None:
        for start in range(0, len(wanted), size):
            some = conn.execute(query.where(customers.c.id.in_(wanted[start : start + size])))
            yield {int(cid): dict(attrs or {}) for cid, attrs in some}
        return
    last = 0
    while True:
        rows = conn.execute(query.where(customers.c.id > last).limit(size)).all()
        if not rows:
            return
        yield {int(cid): dict(attrs or {}) for cid, attrs in rows}
        last = int(rows[-1][0])


def _enrichment(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """What the enrichment tables hold for these customers, as `customers.attributes` names."""
    extra: dict[int, dict[str, Any]] = {}
    if not ids:
        return extra
    for cid, name, value in conn.execute(
        select(profile_attributes.c.customer_id, profile_attributes.c.name, profile_attributes.c.value).where(
            profile_attributes.c.customer_id.in_(ids)
        )
    ):
        extra.setdefault(int(cid), {})[name] = value
    for cid, field, value, confidence in conn.execute(
        select(
            modelled_values.c.customer_id,
            modelled_values.c.field,
            modelled_values.c.value,
            modelled_values.c.confidence,
        ).where(modelled_values.c.customer_id.in_(ids))
    ):
        entry = extra.setdefault(int(cid), {})
        entry[f"{MODELLED_PREFIX}{field}"] = value
        entry[f"{MODELLED_PREFIX}{field}_confidence"] = round(float(confidence), 3)
    return extra


def _golden_values(conn: Connection, names: Mapping[int, list[str]]) -> dict[tuple[int, str], Any]:
    """(customer, name) -> the value of the source record the golden record's lineage names for it."""
    wanted = {(cid, f"attributes.{n}") for cid, ns in names.items() for n in ns}
    if not wanted:
        return {}
    rows = conn.execute(
        select(customer_lineage.c.customer_id, customer_lineage.c.field, source_records.c.normalized)
        .join(source_records, source_records.c.id == customer_lineage.c.source_record_id)
        .where(customer_lineage.c.customer_id.in_(sorted({c for c, _ in wanted})))
    )
    out: dict[tuple[int, str], Any] = {}
    for cid, field, normalized in rows:
        name = str(field).removeprefix("attributes.")
        value = (normalized or {}).get(name)
        if (int(cid), str(field)) in wanted and value not in (None, ""):
            out[(int(cid), name)] = value
    return out


@dataclass(frozen=True, kw_only=True)
class DatasetEnrichment:
    overlay: OverlayReport | None
    models: list[Any]  # epistola.hub.modelled.ModelReport


def enrich_dataset(conn: Connection, folder: Path, *, now: datetime, actor: str = "system") -> DatasetEnrichment:
    """After a dataset import: its postcode overlay (if the folder has one), modelled values, profiles."""
    from epistola.hub.modelled import model_missing

    overlay = None
    path = folder / "postcode_overlay.csv"
    if path.exists():
        load_overlay(conn, path, name="postcode_demographics", now=now, actor=actor)
        overlay = apply_overlay(conn, name="postcode_demographics", now=now, actor=actor)
    models = model_missing(conn, now=now, actor=actor)
    apply_profiles(conn, now=now)
    return DatasetEnrichment(overlay=overlay, models=list(models))

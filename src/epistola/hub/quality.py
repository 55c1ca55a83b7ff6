"""The data quality report: how complete and valid each source is, field by field; where sources
disagree about the same customer; which rows were rejected and why; what events point at nobody; and
how all of that moved across imports.

`quality_report(conn, now=...)` builds it from the store; the CLI prints it, the API returns it as
JSON and the UI draws it. Counts only: the report never copies a customer's values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from epistola.hub import quality_store as q
from epistola.hub.canonical_pool import reason_kind

# Well-known problems and how the report counts them (the synthetic generator plants the same kinds).
CHECKS = {
    "invalid_phone": "phone numbers no numbering plan accepts",
    "invalid_email": "e-mail addresses that are not addresses",
    "unknown_country": "countries that are neither a name nor an ISO code",
    "future_birth_date": "birth dates in the future",
    "conflicting_age": "customers whose sources disagree about their age",
    "orphan_events": "events whose identifier matches no record of any source",
}


@dataclass(frozen=True, kw_only=True)
class FieldQuality:
    field: str
    given: int  # records where the source filled the field
    valid: int
    invalid: int
    completeness: float  # given / records
    validity: float  # valid / given
    reasons: dict[str, int] = dc_field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SourceQuality:
    source: str
    kind: str
    records: int  # present (not missing) records
    missing: int
    linked: int
    duplicates: int  # records sharing a customer with another record of this source
    duplicate_customers: int
    fields: list[FieldQuality]


@dataclass(frozen=True, kw_only=True)
class Conflict:
    field: str
    customers: int  # customers whose sources give incompatible values
    examples: list[int]  # a few customer ids, to look at


@dataclass(frozen=True, kw_only=True)
class Rejects:
    source: str
    import_id: int
    file: str
    total: int
    reasons: list[dict[str, Any]]  # {field, reason, rows}
    examples: list[dict[str, Any]]  # {file, row, field, reason}


@dataclass(frozen=True, kw_only=True)
class EventQuality:
    source: str
    unlinked: int  # not tied to a customer (yet)
    orphans: int  # identifiers that match nothing known


@dataclass(frozen=True, kw_only=True)
class ImportPoint:
    import_id: int
    source: str
    kind: str
    file: str
    status: str
    started_at: datetime
    seen: int
    new: int
    changed: int
    rejected: int
    missing: int
    invalid: int  # unusable values among the records this import wrote
    skipped: dict[str, int] = dc_field(default_factory=dict)  # reason -> records not stored (an erased subject)


@dataclass(frozen=True, kw_only=True)
class QualityReport:
    generated_at: datetime
    sources: list[SourceQuality]
    conflicts: list[Conflict]
    rejects: list[Rejects]
    events: list[EventQuality]
    trend: list[ImportPoint]
    checks: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality_report(conn: Connection, *, now: datetime, examples: int = 10) -> QualityReport:
    rows = q.source_rows(conn)
    names = {int(r["id"]): str(r["name"]) for r in rows}
    fields = _field_quality(conn)
    duplicates = q.duplicate_counts(conn)
    report_sources = [
        SourceQuality(
            source=str(r["name"]),
            kind=str(r["kind"]),
            records=int(r["records"] or 0) - int(r["missing"] or 0),
            missing=int(r["missing"] or 0),
            linked=int(r["linked"] or 0),
            duplicates=duplicates.get(int(r["id"]), (0, 0))[0],
            duplicate_customers=duplicates.get(int(r["id"]), (0, 0))[1],
            fields=fields.get(int(r["id"]), []),
        )
        for r in rows
        if r["kind"] != "events"
    ]
    conflicts = _conflicts(conn, examples)
    latest = q.latest_imports(conn)
    history = q.import_history(conn)
    files = {int(h["id"]): str(h["file"]) for h in history}
    reject_data = q.reject_rows(conn, sorted(latest.values()), examples=examples)
    rejects = [
        Rejects(
            source=names[source_id],
            import_id=import_id,
            file=_name(files.get(import_id, "")),
            total=reject_data[import_id]["total"],
            reasons=[
                {"field": f, "reason": reason_kind(why), "rows": n}
                for (f, why), n in sorted(reject_data[import_id]["reasons"].items(), key=lambda kv: -kv[1])
            ],
            examples=[{"file": _name(files.get(import_id, "")), **e} for e in reject_data[import_id]["examples"]],
        )
        for source_id, import_id in sorted(latest.items(), key=lambda kv: names[kv[0]])
        if reject_data[import_id]["total"]
    ]
    event_quality = _events(conn)
    trend = [_point(h) for h in history]
    checks = _checks(report_sources, conflicts, event_quality)
    return QualityReport(
        generated_at=now,
        sources=report_sources,
        conflicts=conflicts,
        rejects=rejects,
        events=event_quality,
        trend=trend,
        checks=checks,
    )


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def parse_signature(signature: str) -> Iterable[tuple[str, bool]]:
    """'email !phone' -> ('email', True), ('phone', False)."""
    for token in signature.split():
        yield (token[1:], False) if token.startswith("!") else (token, True)


def _field_quality(conn: Connection) -> dict[int, list[FieldQuality]]:
    given: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    totals: dict[int, int] = defaultdict(int)
    for source_id, signature, n in q.signatures(conn):
        totals[source_id] += n
        for name, ok in parse_signature(signature):
            given[source_id][name][0 if ok else 1] += n
    reasons: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for source_id, invalid in q.invalid_reasons(conn):
        for name, why in invalid.items():
            reasons[source_id][name][reason_kind(str(why))] += 1
    out: dict[int, list[FieldQuality]] = {}
    for source_id, per_field in given.items():
        total = totals[source_id] or 1
        out[source_id] = [
            FieldQuality(
                field=name,
                given=valid + invalid,
                valid=valid,
                invalid=invalid,
                completeness=round((valid + invalid) / total, 4),
                validity=round(valid / (valid + invalid), 4) if valid + invalid else 1.0,
                reasons=dict(sorted(reasons[source_id][name].items(), key=lambda kv: -kv[1])),
            )
            for name, (valid, invalid) in sorted(per_field.items())
        ]
    return out


def birth_interval(values: dict[str, str | None]) -> tuple[date, date] | None:
    """The birth dates a record allows: one day from a birth date, a span from an age range on a day."""
    if values.get("birth_date"):
        born = date.fromisoformat(str(values["birth_date"]))
        return born, born
    if values.get("age_min") in (None, "") or not values.get("age_as_of"):
        return None
    day = date.fromisoformat(str(values["age_as_of"]))
    low = int(str(values["age_min"]))
    latest = _years_before(day, low)
    high = values.get("age_max")
    earliest = (
        date.min if high in (None, "") else date.fromordinal(_years_before(day, int(str(high)) + 1).toordinal() + 1)
    )
    return earliest, latest


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _conflicts(conn: Connection, examples: int) -> list[Conflict]:
    wanted = tuple(dict.fromkeys((*q.CONFLICT_FIELDS, *q.AGE_FIELDS)))
    counts: dict[str, list[int]] = defaultdict(list)
    current: int | None = None
    group: list[dict[str, str | None]] = []

    def settle() -> None:
        if current is None or len(group) < 2:
            return
        for name in q.CONFLICT_FIELDS:
            seen = {v[name] for v in group if v.get(name) not in (None, "")}
            if len(seen) > 1:
                counts[name].append(current)
        spans = [s for s in (birth_interval(v) for v in group) if s is not None]
        if len(spans) > 1 and max(s[0] for s in spans) > min(s[1] for s in spans):
            counts["age"].append(current)

    for customer_id, _source_id, values in q.linked_values(conn, wanted):
        if customer_id != current:
            settle()
            current, group = customer_id, []
        group.append(values)
    settle()
    order = ("age", *q.CONFLICT_FIELDS)
    return [Conflict(field=f, customers=len(counts[f]), examples=counts[f][:examples]) for f in order]


def _events(conn: Connection) -> list[EventQuality]:
    unlinked: dict[str, int] = defaultdict(int)
    by_ident: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for uid, ident in q.unlinked_events(conn):
        source = uid.split(":", 1)[0]
        unlinked[source] += 1
        by_ident[source].append((uid, ident))
    out = []
    for source in sorted(unlinked):
        items = by_ident[source]
        keys: dict[str, set[str]] = defaultdict(set)
        emails: set[str] = set()
        for _uid, ident in items:
            if ident.get("source") and ident.get("key"):
                keys[str(ident["source"])].add(str(ident["key"]))
            if ident.get("email"):
                emails.add(str(ident["email"]))
        found = {s: q.known_keys(conn, s, sorted(k)) for s, k in keys.items()}
        found_emails = q.known_emails(conn, sorted(emails))
        orphans = sum(
            1
            for _uid, ident in items
            if not (ident.get("key") and str(ident["key"]) in found.get(str(ident.get("source")), set()))
            and not (ident.get("email") and str(ident["email"]) in found_emails)
        )
        out.append(EventQuality(source=source, unlinked=unlinked[source], orphans=orphans))
    return out


def _point(h: dict[str, Any]) -> ImportPoint:
    stats = h["stats"] or {}
    invalid = stats.get("invalid") or {}
    return ImportPoint(
        import_id=int(h["id"]),
        source=str(h["source"]),
        kind=str(h["kind"]),
        file=_name(str(h["file"])),
        status=str(h["status"]),
        started_at=h["started_at"],
        seen=int(stats.get("seen", stats.get("inserted", 0)) or 0),
        new=int(stats.get("new", stats.get("inserted", 0)) or 0),
        changed=int(stats.get("changed", 0) or 0),
        rejected=int(stats.get("rejected", 0) or 0),
        missing=int(stats.get("missing", 0) or 0),
        invalid=sum(int(v) for v in invalid.values()) if isinstance(invalid, dict) else 0,
        skipped={str(k): int(v) for k, v in (stats.get("skipped") or {}).items()},
    )


def _checks(sources: list[SourceQuality], conflicts: list[Conflict], events: list[EventQuality]) -> dict[str, int]:
    def invalid(name: str, reason: str | None = None) -> int:
        total = 0
        for s in sources:
            for f in s.fields:
                if f.field == name:
                    total += f.invalid if reason is None else sum(n for r, n in f.reasons.items() if reason in r)
        return total

    by_field = {c.field: c.customers for c in conflicts}
    return {
        "invalid_phone": invalid("phone"),
        "invalid_email": invalid("email"),
        "unknown_country": invalid("country"),
        "future_birth_date": invalid("birth_date", "in the future"),
        "conflicting_age": by_field.get("age", 0),
        "orphan_events": sum(e.orphans for e in events),
    }

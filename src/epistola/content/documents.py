"""What content reads from the store to render for real customers: their records, a sample of them for
proofs, and the transactions a statement lists.

The queries of rendering live here, apart from the pure renderers; callers open the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from epistola.errors import NotFound
from epistola.store.schema import customers, events

PURCHASE_TYPES = ("purchase", "order")
_CURRENCY_BY_COUNTRY = {"RU": "RUB", "PL": "PLN", "GB": "GBP", "US": "USD"}


def customer_rows(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Current customer records by id (merged-away records are left out)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(customers).where(customers.c.id.in_(sorted(set(ids))), customers.c.merged_into.is_(None))
    ).mappings()
    return {int(r["id"]): dict(r) for r in rows}


def customer_row(conn: Connection, customer_id: int) -> dict[str, Any]:
    found = customer_rows(conn, [customer_id])
    if customer_id not in found:
        raise NotFound(f"no customer {customer_id}", hint="Find one with `epistola customers show ID`.")
    return found[customer_id]


def sample_customers(conn: Connection, count: int, *, scan: int = 5000) -> list[dict[str, Any]]:
    """Up to `count` customers for a proof set, spread over languages and genders (every combination
    first, then round-robin), so a proof shows each form of greeting and each variant."""
    rows = conn.execute(
        select(customers).where(customers.c.merged_into.is_(None)).order_by(customers.c.id).limit(scan)
    ).mappings()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(str(row["locale"] or "en"), str(row["gender"] or "-"))].append(dict(row))
    picked: list[dict[str, Any]] = []
    queues = [groups[k] for k in sorted(groups)]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def statement_document(
    conn: Connection, customer: dict[str, Any], *, start: date, end: date, number: str | None = None
) -> dict[str, Any]:
    """A statement of the customer's purchases from `start` to `end` (both included), in one currency:
    the currency of most of them, or the customer's country's."""
    rows = conn.execute(
        select(events.c.occurred_at, events.c.amount, events.c.currency, events.c.category, events.c.properties)
        .where(
            events.c.customer_id == customer["id"],
            events.c.type.in_(PURCHASE_TYPES),
            events.c.occurred_at >= datetime.combine(start, time.min, tzinfo=UTC),
            events.c.occurred_at <= datetime.combine(end, time.max, tzinfo=UTC),
        )
        .order_by(events.c.occurred_at, events.c.id)
    ).all()
    currencies = [r.currency for r in rows if r.currency]
    currency = (
        max(set(currencies), key=currencies.count)
        if currencies
        else _CURRENCY_BY_COUNTRY.get(str(customer.get("country") or "").upper(), "EUR")
    )
    lines = []
    for row in rows:
        if row.currency and row.currency != currency:
            continue
        props = row.properties or {}
        description = str(props.get("product") or props.get("name") or row.category or "purchase")
        lines.append({"date": row.occurred_at.date(), "description": description, "amount": Decimal(row.amount or 0)})
    return {
        "kind": "statement",
        "number": number or f"ST-{end:%Y%m}-{customer['id']:08d}",
        "date": end,
        "period_start": start,
        "period_end": end,
        "currency": currency,
        "lines": lines,
        "total": sum((line["amount"] for line in lines), Decimal(0)),
        "due_date": None,
    }

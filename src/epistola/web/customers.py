"""Customer routes: the golden record, where each field came from, and the records behind it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from epistola.errors import NotFound
from epistola.store.schema import customer_lineage, customers, source_records, sources
from epistola.web.deps import ConnDep, ReaderKey

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("", summary="Customers, in id order (keyset pagination with `after`)")
def list_customers(
    conn: ConnDep,
    key: ReaderKey,
    after: int = Query(0, ge=0, description="Return customers with a larger id."),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    rows = conn.execute(
        select(customers)
        .where(customers.c.merged_into.is_(None), customers.c.id > after)
        .order_by(customers.c.id)
        .limit(limit)
    ).mappings()
    items = [dict(r) for r in rows]
    total = conn.execute(select(func.count()).select_from(customers).where(customers.c.merged_into.is_(None)))
    return {"total": total.scalar_one(), "items": items, "next_after": items[-1]["id"] if len(items) == limit else None}


@router.get("/{customer_id}", summary="One customer: golden record, lineage and source records")
def get_customer(customer_id: int, conn: ConnDep, key: ReaderKey) -> dict[str, Any]:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).mappings().first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    lineage = conn.execute(
        select(customer_lineage.c.field, sources.c.name, source_records.c.source_key, customer_lineage.c.observed_at)
        .join(source_records, source_records.c.id == customer_lineage.c.source_record_id)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(customer_lineage.c.customer_id == customer_id)
        .order_by(customer_lineage.c.field)
    ).all()
    records = conn.execute(
        select(sources.c.name, source_records.c.source_key, source_records.c.normalized, source_records.c.missing_since)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(source_records.c.customer_id == customer_id)
        .order_by(sources.c.name, source_records.c.source_key)
    ).all()
    return {
        "customer": dict(row),
        "lineage": [{"field": f, "source": s, "record": k, "observed_at": o} for f, s, k, o in lineage],
        "source_records": [
            {"source": s, "key": k, "invalid": (n or {}).get("invalid", {}), "missing_since": m}
            for s, k, n, m in records
        ],
    }

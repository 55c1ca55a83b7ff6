"""Which variant of a design each customer of a batch gets: their A/B key and the segments they are in.

A design's variants may depend on the campaign member's A/B key (`campaign_members.variant`) or on
membership of a segment (`when: {segment: business-clothes}`). The composers ask once per batch, and only
when the design has such variants: a design varied by language alone costs no query here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from epistola.audience.segments import compile_segment, get_segment
from epistola.content.design import Design
from epistola.errors import NotFound
from epistola.store.schema import campaign_members, customers

VariantKey = tuple[str | None, frozenset[str]]  # (A/B key, segments)
_NONE: VariantKey = (None, frozenset())


def needs_keys(design: Design) -> bool:
    return any(v.ab or v.segment for v in design.variants)


def variant_keys(
    conn: Connection, design: Design, *, campaign_id: int, customer_ids: Sequence[int], now: datetime
) -> dict[int, VariantKey]:
    """{customer id: (A/B key, segments of the design's variants the customer is in)} for a batch."""
    ids = sorted(set(customer_ids))
    if not ids or not needs_keys(design):
        return dict.fromkeys(ids, _NONE)
    ab = dict(
        conn.execute(
            select(campaign_members.c.customer_id, campaign_members.c.variant).where(
                campaign_members.c.campaign_id == campaign_id, campaign_members.c.customer_id.in_(ids)
            )
        ).all()
    )
    member_of: dict[int, set[str]] = defaultdict(set)
    for name in sorted(design.segments_used):
        try:
            segment = get_segment(conn, name)
        except NotFound:  # a segment deleted since the design was approved: nobody is in it
            continue
        compiler, condition = compile_segment(conn, segment, now)
        for customer_id in conn.execute(compiler.members(condition).where(customers.c.id.in_(ids))).scalars():
            member_of[int(customer_id)].add(name)
    return {i: (ab.get(i), frozenset(member_of.get(i, ()))) for i in ids}

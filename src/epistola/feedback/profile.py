"""Where survey answers land in the customer profile: a port, and its adapter on the hub's enrichment store.

The survey code only knows `ProfileWriter`. `EnrichmentProfile` keeps each answer in the hub's
`profile_attributes` (origin ``survey``, with the survey as its source and the time it was given), which
survives identity resolution rebuilding `customers.attributes`, and writes it into `customers.attributes`
at once (through `hub.enrich.apply_profiles`), so segments (``attributes.<name>``) and templates
(``customer.attributes``) see it immediately. An answer the customer cleared is removed from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, select, update

from epistola.hub.enrich import ProfileStore
from epistola.store.schema import customers


class ProfileWriter(Protocol):
    def write(
        self, conn: Connection, customer_id: int, values: Mapping[str, Any], *, source: str, at: datetime
    ) -> None:
        """Set (or, for None, clear) profile attributes of one customer."""


class EnrichmentProfile:
    """Implements `ProfileWriter` on the hub's enrichment store."""

    def __init__(self) -> None:
        self.store = ProfileStore()

    def write(
        self, conn: Connection, customer_id: int, values: Mapping[str, Any], *, source: str, at: datetime
    ) -> None:
        if not values:
            return
        cleaned = {k: (None if v == [] else v) for k, v in values.items()}
        self.store.write(conn, customer_id, cleaned, source=source, at=at)
        cleared = [k for k, v in cleaned.items() if v is None]
        if cleared:  # the enrichment store forgets them; the profile column must too
            current = conn.execute(select(customers.c.attributes).where(customers.c.id == customer_id)).scalar()
            attributes = {k: v for k, v in dict(current or {}).items() if k not in cleared}
            conn.execute(
                update(customers).where(customers.c.id == customer_id).values(attributes=attributes, updated_at=at)
            )

"""Where survey answers land in the customer profile: a port, and its adapter on the hub's enrichment store.

The survey code only knows `ProfileWriter`. `EnrichmentProfile` keeps each answer in the hub's
`profile_attributes` (origin ``survey``, with the survey as its source and the time it was given), which
survives identity resolution rebuilding `customers.attributes`, and writes it into `customers.attributes`
at once (through `hub.enrich.apply_profiles`), so segments (``attributes.<name>``) and templates
(``customer.attributes``) see it immediately. An answer the customer cleared is removed from both (a
name a source record also states falls back to that value).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from epistola.hub.enrich import ProfileStore


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
        # A cleared answer leaves the profile column too (or gives way to what a source record states).
        self.store.write(conn, customer_id, cleaned, source=source, at=at)

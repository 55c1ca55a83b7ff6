"""The suppression adapter: delivery feedback (`deliverability.Suppressor`) onto the consent package's
suppression list, which keeps keyed hashes of addresses, never the addresses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from epistola.config import Settings
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.feedback.deliverability import SuppressReason

_KIND = {"email": "email", "sms": "phone", "phone": "phone"}


class ListSuppressor:
    """Implements `Suppressor` with `epistola.consent.suppression.add`."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @classmethod
    def from_settings(cls, settings: Settings) -> ListSuppressor:
        return cls(Keyring.from_settings(settings))

    def suppress(
        self,
        conn: Connection,
        addresses: Sequence[str],
        *,
        channel: str,
        reason: SuppressReason,
        source: str,
        now: datetime,
        actor: str,
    ) -> int:
        kind = _KIND.get(channel, "email")
        idents = [suppression.identifier(kind, a) for a in addresses]  # type: ignore[arg-type]
        return suppression.add(
            conn, self.keyring, idents, scope=channel, reason=reason, source=source, now=now, actor=actor
        )

    def is_suppressed(self, conn: Connection, address: str, *, channel: str = "email") -> bool:
        kind = _KIND.get(channel, "email")
        ident = suppression.identifier(kind, address)  # type: ignore[arg-type]
        found = suppression.lookup(conn, self.keyring, [ident]).get(ident, [])
        return suppression.blocking(found, channel) is not None

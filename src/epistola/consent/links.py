"""The privacy links every message carries: the preference centre, one-click unsubscribe over HTTPS, and
unsubscribe by mail, plus the RFC 2369 / RFC 8058 headers that let mailbox providers show a button.

    List-Unsubscribe: <https://mail.example.com/unsubscribe/TOKEN>,
      <mailto:unsubscribe+TOKEN@example.com?subject=unsubscribe>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

The HTTPS URL takes a POST (the provider's one-click request) and withdraws at once; a GET only shows a
confirmation page, because scanners follow every link in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

from epistola.consent.keys import Keyring
from epistola.consent.tokens import TokenKind, sign, verify

if TYPE_CHECKING:
    from epistola.config import Settings

PREFERENCES_PATH = "/preferences/"
UNSUBSCRIBE_PATH = "/unsubscribe/"


def mailbox_for(settings: Settings) -> str:
    """EPISTOLA_UNSUBSCRIBE_ADDRESS, or ``unsubscribe@`` the sender's domain."""
    if settings.unsubscribe_address:
        return settings.unsubscribe_address
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "epistola.invalid"
    return f"unsubscribe@{domain}"


@dataclass(frozen=True, kw_only=True)
class PrivacyLinks:
    keyring: Keyring
    base_url: str
    mailbox: str = "unsubscribe@epistola.invalid"

    @classmethod
    def from_settings(cls, settings: Settings) -> PrivacyLinks:
        return cls(
            keyring=Keyring.from_settings(settings), base_url=settings.public_base_url, mailbox=mailbox_for(settings)
        )

    def preferences_url(self, customer_id: int, message_id: int | None = None) -> str:
        token = sign(self.keyring, TokenKind.PREFERENCES, customer_id, message_id)
        return f"{self.base_url.rstrip('/')}{PREFERENCES_PATH}{token}"

    def unsubscribe_url(self, customer_id: int, message_id: int | None = None) -> str:
        token = sign(self.keyring, TokenKind.UNSUBSCRIBE, customer_id, message_id)
        return f"{self.base_url.rstrip('/')}{UNSUBSCRIBE_PATH}{token}"

    def unsubscribe_mailto(self, customer_id: int, message_id: int | None = None) -> str:
        token = sign(self.keyring, TokenKind.UNSUBSCRIBE, customer_id, message_id)
        local, _, domain = self.mailbox.partition("@")
        return f"mailto:{local}+{token}@{domain}?subject=unsubscribe"

    def email_headers(self, customer_id: int, message_id: int) -> dict[str, str]:
        """The two headers for a marketing e-mail (RFC 2369, RFC 8058).

        The URL and the address carry the same token (same kind, customer and message): it is signed once.
        """
        token = sign(self.keyring, TokenKind.UNSUBSCRIBE, customer_id, message_id)
        local, _, domain = self.mailbox.partition("@")
        return {
            "List-Unsubscribe": f"<{self.base_url.rstrip('/')}{UNSUBSCRIBE_PATH}{token}>, "
            f"<mailto:{local}+{token}@{domain}?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def token_from_address(self, address: str) -> str | None:
        """The token in ``unsubscribe+TOKEN@domain`` (as a mail server hands it over), if it is ours."""
        local = parseaddr(address)[1].rpartition("@")[0]
        token = local.partition("+")[2].lower()
        return token if verify(self.keyring, TokenKind.UNSUBSCRIBE, token) else None

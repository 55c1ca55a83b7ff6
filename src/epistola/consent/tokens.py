"""Signed tokens for the links in every message: the preference centre and one-click unsubscribe.

A token is ``base32(version | customer id | message id | MAC)``, 33 bytes as 53 lower-case letters and
digits. The MAC is HMAC-SHA256 truncated to 128 bits under a key of the token's own kind and version, so
nobody can make a token for another customer, a preference token cannot be used to unsubscribe and vice
versa, and nothing needs to be stored to check one. Lower-case base32 survives mail systems that fold the
case of an address's local part, which the ``mailto:`` unsubscribe address relies on.

`verify` answers None for anything that is not a token we signed, whatever the reason (bad alphabet,
wrong length, unknown key version, forged MAC): callers cannot tell them apart, and neither can a client.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from epistola.consent.keys import Keyring

MAC_BYTES = 16  # 128 bits
_LAYOUT = struct.Struct(">BQQ")  # version, customer id, message id (0: none)
TOKEN_LENGTH = 53  # base32 of 33 bytes, padding removed
_ALPHABET = re.compile(r"[a-z2-7]{53}")


class TokenKind(StrEnum):
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, kw_only=True)
class LinkClaims:
    kind: TokenKind
    customer_id: int
    message_id: int | None = None
    key_version: int = 0


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.digest(key, body, "sha256")[:MAC_BYTES]


def sign(keyring: Keyring, kind: TokenKind, customer_id: int, message_id: int | None = None) -> str:
    version = keyring.current_version
    key = keyring.key(f"token:{kind.value}", version)
    assert key is not None  # noqa: S101 - the current version always has a key
    body = _LAYOUT.pack(version, customer_id, message_id or 0)
    return base64.b32encode(body + _mac(key, body)).decode("ascii").rstrip("=").lower()


def verify(keyring: Keyring, kind: TokenKind, token: str) -> LinkClaims | None:
    """The claims of a token we signed for `kind`, or None for anything else."""
    if len(token) != TOKEN_LENGTH or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "===")
    except (binascii.Error, ValueError):
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token:
        return None  # a spare low bit in the last letter: one token, one spelling
    body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    version, customer_id, message_id = _LAYOUT.unpack(body)
    key = keyring.key(f"token:{kind.value}", version)
    # Unknown versions still cost one MAC, so the answer takes the same time as a forged one.
    expected = _mac(key or b"\0" * 32, body)
    if key is None or not hmac.compare_digest(expected, mac) or customer_id == 0:
        return None
    return LinkClaims(kind=kind, customer_id=customer_id, message_id=message_id or None, key_version=version)

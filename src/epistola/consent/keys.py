"""Versioned keys for signed links and keyed hashes, all derived from ``EPISTOLA_SECRET_KEY``.

Each use gets its own key (``HMAC(secret, "epistola:<purpose>")``), so a token for one page can never
pass as another, and a suppression hash says nothing about a link. Keys carry a version: after a
rotation the old secrets stay in ``EPISTOLA_PREVIOUS_SECRET_KEYS`` so links already in mailboxes keep
working and addresses suppressed under an old key stay suppressed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from epistola.config import Settings


def parse_previous_keys(text: str | None) -> dict[int, str]:
    """``"1=old-secret, 2=newer"`` -> {1: "old-secret", 2: "newer"}; ValueError names the bad pair."""
    out: dict[int, str] = {}
    for position, raw in enumerate((text or "").split(","), start=1):
        item = raw.strip()
        if not item:
            continue
        version, sep, secret = item.partition("=")
        if not sep or not version.strip().isdigit() or not secret.strip():
            raise ValueError(f"pair {position} is not VERSION=SECRET")
        number = int(version)
        if not 1 <= number <= 255:
            raise ValueError(f"pair {position}: the version must be 1 to 255")
        if number in out:
            raise ValueError(f"pair {position}: version {number} is given twice")
        out[number] = secret.strip()
    return out


@dataclass(frozen=True)
class Keyring:
    """The current secret and the ones it replaced, by version."""

    current_version: int
    secrets: Mapping[int, bytes]
    # Derived keys by (purpose, version), made once: every message signs links and hashes an address.
    _derived: dict[tuple[str, int], bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current_version not in self.secrets:
            raise ValueError("the current key version has no secret")
        object.__setattr__(self, "secrets", MappingProxyType(dict(self.secrets)))

    @classmethod
    def single(cls, secret: str | bytes, version: int = 1) -> Keyring:
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls(version, {version: raw})

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        previous = {}
        if settings.previous_secret_keys is not None:
            previous = parse_previous_keys(settings.previous_secret_keys.get_secret_value())
        secrets = {v: s.encode() for v, s in previous.items()}
        secrets[settings.secret_key_version] = settings.secret_key.get_secret_value().encode()
        return cls(settings.secret_key_version, secrets)

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version, current first."""
        return (self.current_version, *sorted((v for v in self.secrets if v != self.current_version), reverse=True))

    def key(self, purpose: str, version: int | None = None) -> bytes | None:
        """The key for `purpose` under `version` (default: current); None for a version we do not hold."""
        number = self.current_version if version is None else version
        key = self._derived.get((purpose, number))
        if key is None:
            secret = self.secrets.get(number)
            if secret is None:
                return None
            key = hmac.new(secret, f"epistola:{purpose}".encode(), hashlib.sha256).digest()
            self._derived[(purpose, number)] = key
        return key

"""DKIM signing (RFC 6376; Ed25519 per RFC 8463): each composed e-mail is signed once, before hand-over.

Canonicalisation (relaxed headers, simple body) and header selection follow dkimpy's functions step by
step, but only for the headers that are signed and without its per-header regular expressions: dkimpy's
own path cost three times the signature. The tests sign with this code and verify with dkimpy, over
generated messages with folded, tabbed, repeated and missing headers. The private-key operation is done
by OpenSSL when it is there (`delivery.openssl`): dkimpy's pure-Python RSA is ~50 times slower, too slow
for thousands of messages a second. Without libcrypto, RSA falls back to dkimpy and Ed25519 to PyNaCl.

Signing happens in the composer's thread (`SigningComposer`), never on the event loop, and once per
message: a message that is retried is composed, and so signed, afresh.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import dkim  # type: ignore[import-untyped]
from dkim.canonicalization import strip_trailing_lines  # type: ignore[import-untyped]

from epistola.clock import Clock, utcnow
from epistola.config import Settings
from epistola.delivery import openssl
from epistola.delivery.ports import ClaimedMessage, Composer, Envelope, Skip
from epistola.errors import ConfigError, PermanentDeliveryError

logger = logging.getLogger(__name__)

#: Headers signed by default. Listing one a message lacks "signs its absence": it cannot be added later.
DEFAULT_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    "cc",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
# Relaxed headers (relays refold them), simple body (dkimpy's default too): our bodies are quoted-printable
# with short lines and no trailing whitespace, which relays leave alone, and relaxed body canonicalisation
# of a 30 kB HTML e-mail costs more than the signature itself.
_NAME = b"DKIM-Signature"
_LINES = re.compile(rb"\r?\n")  # what dkimpy splits a message into lines by
_FIELD = re.compile(rb"([\x21-\x7e]+?):")  # a header field's name, as dkimpy reads it
_NAME_CHARS = bytes(range(0x21, 0x7F))
_UNFOLD = re.compile(rb"\r?\n")
_WSP = re.compile(rb"[\t ]+")


def _relaxed(value: bytes) -> bytes:
    """A header field's value in relaxed canonical form (RFC 6376 3.4.2), as dkimpy computes it.

    Unfolded, runs of spaces and tabs as one space, stripped; the regular expressions run only on the
    values that need them (folded ones, or ones with a tab or two spaces in a row).
    """
    if b"\n" in value:
        value = _UNFOLD.sub(b"", value)
    if b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value)
    return value.strip()


def parse_headers(block: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) of each header field in `block`, in order, as `dkim.rfc822_parse` reads them but
    without the final CRLF (which relaxed canonicalisation removes anyway).

    Raises PermanentDeliveryError where dkimpy would refuse the message.
    """
    headers: list[list[bytes]] = []
    for line in _LINES.split(block):
        if not line:
            break
        if line[0] in (0x09, 0x20):
            if not headers:
                raise PermanentDeliveryError("cannot DKIM-sign a message that starts with a continuation line")
            headers[-1][1] += b"\r\n" + line
            continue
        name, colon, value = line.partition(b":")
        if colon and name and not name.translate(None, _NAME_CHARS):  # the common case, without a regex
            headers.append([name, value])
        elif match := _FIELD.match(line):
            headers.append([match.group(1), line[match.end(0) :]])
        elif not line.startswith(b"From "):
            raise PermanentDeliveryError("cannot DKIM-sign a message with a malformed header line")
    return [(name, value) for name, value in headers]


def signed_header_data(headers: Sequence[tuple[bytes, bytes]], include: Sequence[bytes]) -> bytes:
    """The relaxed canonical form of the fields `include` names, in that order, as RFC 6376 5.4.2 picks
    them: each listed name takes the next instance from the bottom; a name with none left adds nothing."""
    instances: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        instances.setdefault(name.lower(), []).append(value)
    out = []
    for want in include:
        left = instances.get(want)
        if left:
            out.append(want + b":" + _relaxed(left.pop()) + b"\r\n")
    return b"".join(out)


def _fold_signature(signature: bytes) -> bytes:
    """The base64 signature in lines of 70 characters; folding whitespace inside b= is ignored (RFC 6376 3.5)."""
    value = base64.b64encode(signature)
    return b"\r\n ".join(value[i : i + 70] for i in range(0, len(value), 70))


class _Key(Protocol):
    algorithm: str  # rsa | ed25519
    bits: int

    def sign_digest(self, digest: bytes) -> bytes: ...


class _PureRsaKey:
    """dkimpy's own RSA: correct everywhere, slow (~7 ms a signature)."""

    algorithm = "rsa"

    def __init__(self, pem: bytes) -> None:
        from dkim.crypto import UnparsableKeyError, parse_pem_private_key  # type: ignore[import-untyped]

        try:
            self._key = parse_pem_private_key(pem)
        except UnparsableKeyError as exc:
            raise ConfigError(f"not a readable RSA private key: {exc}") from None
        self.bits = int(self._key["modulus"]).bit_length()

    def sign_digest(self, digest: bytes) -> bytes:
        from dkim.crypto import RSASSA_PKCS1_v1_5_sign

        return bytes(RSASSA_PKCS1_v1_5_sign(_Digest(digest), self._key))


class _Digest:
    """A finished SHA-256 digest dressed as a hash object, for dkimpy's RSA."""

    name = "sha256"

    def __init__(self, value: bytes) -> None:
        self.value = value

    def digest(self) -> bytes:
        return self.value


class _NaclKey:
    algorithm = "ed25519"
    bits = 256

    def __init__(self, seed: bytes) -> None:
        try:
            import nacl.signing  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError(
                "Ed25519 DKIM keys need OpenSSL 3 (libcrypto) or the PyNaCl package; neither is available"
            ) from None
        self._key = nacl.signing.SigningKey(seed)

    def sign_digest(self, digest: bytes) -> bytes:
        return bytes(self._key.sign(digest).signature)


def load_key(material: bytes, *, where: str) -> _Key:
    """A private key from PEM (RSA, PKCS#1 or PKCS#8; Ed25519 PKCS#8) or dkimpy's base64 Ed25519 seed.

    `where` names the setting or file in error messages.
    """
    text = material.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key: _Key
            if openssl.available():
                key = openssl.PrivateKey.from_pem(text)
            else:
                key = _PureRsaKey(text)
        else:
            try:
                seed = base64.b64decode(text, validate=True)
            except binascii.Error:
                raise ConfigError("neither PEM nor a base64 Ed25519 key") from None
            if len(seed) != 32:
                raise ConfigError(f"a base64 Ed25519 key must decode to 32 bytes, not {len(seed)}")
            key = openssl.PrivateKey.ed25519_from_seed(seed) if openssl.available() else _NaclKey(seed)
    except ConfigError as exc:
        raise ConfigError(f"DKIM key {where}: {exc.message}", hint=_KEY_HINT) from None
    if key.algorithm == "rsa" and key.bits < 1024:
        raise ConfigError(f"DKIM key {where}: RSA keys shorter than 1024 bits are refused (RFC 8301)", hint=_KEY_HINT)
    return key


_KEY_HINT = "Create one with `epistola dkim-key --selector NAME --domain DOMAIN` and point EPISTOLA_DKIM_KEYS at it."


@dataclass(frozen=True, kw_only=True)
class _Selector:
    name: str
    key: _Key


class DkimSigner:
    """Signs RFC 5322 messages for `domain` with one or more keys (e.g. RSA and Ed25519 side by side)."""

    def __init__(
        self,
        *,
        domain: str,
        keys: Sequence[tuple[str, bytes]],
        headers: Sequence[str] = DEFAULT_HEADERS,
        clock: Clock = utcnow,
        where: str = "EPISTOLA_DKIM_KEYS",
    ) -> None:
        if not domain or "@" in domain:
            raise ConfigError(f"DKIM domain {domain!r} is not a domain name", hint="Set EPISTOLA_DKIM_DOMAIN.")
        if not keys:
            raise ConfigError("DKIM signing needs at least one key", hint=_KEY_HINT)
        include = tuple(h.strip().lower().encode("ascii") for h in headers if h.strip())
        if b"from" not in include:
            raise ConfigError("DKIM must sign the From header", hint="Add `from` to EPISTOLA_DKIM_HEADERS.")
        self.domain = domain.lower()
        self.headers = include
        self.clock = clock
        self.selectors = tuple(
            _Selector(name=selector, key=load_key(material, where=f"{where} ({selector})"))
            for selector, material in keys
        )
        # The tags that do not change from message to message, folded once (t=, bh= and b= follow).
        self._static = tuple(
            dkim.fold(
                b"v=1; a=%s; c=relaxed/simple; d=%s; s=%s; h=%s;"
                % (
                    b"rsa-sha256" if s.key.algorithm == "rsa" else b"ed25519-sha256",
                    self.domain.encode("ascii"),
                    s.name.encode("ascii"),
                    b":".join(self.headers),
                ),
                namelen=len(_NAME) + 2,
            )
            for s in self.selectors
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> DkimSigner | None:
        """The signer the settings describe, or None when DKIM is not configured."""
        if not settings.dkim_domain:
            return None
        pairs = parse_key_list(settings.dkim_keys)
        keys = []
        for selector, path in pairs:
            try:
                keys.append((selector, Path(path).expanduser().read_bytes()))
            except OSError as exc:
                raise ConfigError(
                    f"EPISTOLA_DKIM_KEYS: cannot read the key of selector {selector!r} at {path}: {exc.strerror}",
                    hint=_KEY_HINT,
                ) from None
        headers = settings.dkim_headers.split(":")
        return cls(domain=settings.dkim_domain, keys=keys, headers=headers, clock=clock)

    def __repr__(self) -> str:
        names = ", ".join(f"{s.name}:{s.key.algorithm}" for s in self.selectors)
        return f"DkimSigner(d={self.domain}, {names})"

    def sign(self, message: bytes) -> bytes:
        """`message` with one DKIM-Signature header per key prepended (CRLF line endings expected)."""
        split = message.find(b"\r\n\r\n")
        if split < 0:
            raise PermanentDeliveryError("cannot DKIM-sign a message without a blank line after its headers")
        signed = signed_header_data(parse_headers(message[: split + 2]), self.headers)
        # Simple body canonicalisation: the body as it is, with its trailing empty lines cut to one CRLF.
        # A composed message already ends in exactly one CRLF, and is hashed without a copy.
        if message.endswith(b"\r\n") and not message.endswith(b"\r\n\r\n"):
            body_digest = hashlib.sha256(memoryview(message)[split + 4 :]).digest()
        else:
            body_digest = hashlib.sha256(strip_trailing_lines(message[split + 4 :])).digest()
        dynamic = b"\r\n t=%d; bh=%s;\r\n b=" % (int(self.clock().timestamp()), base64.b64encode(body_digest))
        out = []
        for selector, static in zip(self.selectors, self._static, strict=True):
            # Everything up to "b=" is what is signed (RFC 6376 3.7: b= empty), then the signature follows.
            head = static + dynamic
            digest = hashlib.sha256(signed + b"dkim-signature:" + _relaxed(head)).digest()
            out.append(_NAME + b": " + head + _fold_signature(selector.key.sign_digest(digest)) + b"\r\n")
        out.append(message)
        return b"".join(out)

    def dns_records(self) -> list[tuple[str, str]]:
        """(name, TXT value) to publish for each key (OpenSSL only: the fallback keys cannot export)."""
        records = []
        for selector in self.selectors:
            key = selector.key
            if not isinstance(key, openssl.PrivateKey):
                raise ConfigError("publishing the DNS record needs OpenSSL 3 (libcrypto)")
            public = base64.b64encode(key.public_key()).decode("ascii")
            records.append((f"{selector.name}._domainkey.{self.domain}", f"v=DKIM1; k={key.algorithm}; p={public}"))
        return records


def parse_key_list(value: str) -> list[tuple[str, str]]:
    """``selector=path,selector2=path2`` -> [(selector, path)]; a clear error for anything else."""
    pairs = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        selector, sep, path = item.partition("=")
        selector, path = selector.strip(), path.strip()
        if not sep or not selector or not path or not selector.replace("-", "").replace(".", "").isalnum():
            raise ConfigError(
                f"EPISTOLA_DKIM_KEYS: {item!r} is not `selector=path/to/key`",
                hint="Example: EPISTOLA_DKIM_KEYS=rsa2026=/etc/epistola/rsa.pem,ed2026=/etc/epistola/ed25519.key",
            )
        pairs.append((selector, path))
    if not pairs:
        raise ConfigError(
            "EPISTOLA_DKIM_DOMAIN is set but EPISTOLA_DKIM_KEYS names no key",
            hint="Example: EPISTOLA_DKIM_KEYS=rsa2026=/etc/epistola/rsa.pem",
        )
    return pairs


class SigningComposer:
    """A `Composer` that DKIM-signs what another composer produced; skips pass through untouched."""

    def __init__(self, inner: Composer, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def compose(self, messages: Sequence[ClaimedMessage]) -> Sequence[Envelope | Skip]:
        return [
            replace(r, data=self.signer.sign(r.data)) if isinstance(r, Envelope) else r
            for r in self.inner.compose(messages)
        ]


def generate_key(algorithm: str) -> bytes:
    """A new private key: PKCS#8 PEM for ``rsa`` (2048 bits), dkimpy's base64 seed for ``ed25519``."""
    import secrets

    if algorithm == "ed25519":
        return base64.b64encode(secrets.token_bytes(32)) + b"\n"
    if algorithm == "rsa":
        return openssl.PrivateKey.generate_rsa(2048).to_pem()
    raise ConfigError(f"unknown DKIM key algorithm {algorithm!r}; use rsa or ed25519")

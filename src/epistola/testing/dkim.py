"""Verify DKIM signatures with dkimpy in tests, with the public keys served from memory instead of DNS.

dkimpy needs PyNaCl for Ed25519; where PyNaCl is not installed, its one Ed25519 primitive is supplied by
OpenSSL, and everything else (canonicalisation, header and body hashes, tags) is still dkimpy's.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dkim  # type: ignore[import-untyped]

from epistola.delivery import openssl


class _BadSignature(Exception):
    pass


class _VerifyKey:
    def __init__(self, key: bytes, encoder: object = None) -> None:
        self.key = base64.b64decode(key)
        if len(self.key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")

    def verify(self, data: bytes, signature: bytes) -> bytes:
        if not openssl.verify_ed25519(self.key, signature, data):
            raise _BadSignature("signature does not verify")
        return data


_SHIM = types.SimpleNamespace(
    signing=types.SimpleNamespace(VerifyKey=_VerifyKey),
    encoding=types.SimpleNamespace(Base64Encoder=object()),
    exceptions=types.SimpleNamespace(ValueError=ValueError, BadSignatureError=_BadSignature),
)


@contextmanager
def _ed25519_support() -> Iterator[None]:
    if hasattr(dkim, "nacl"):  # PyNaCl is installed: dkimpy uses it
        yield
        return
    dkim.nacl = _SHIM
    try:
        yield
    finally:
        del dkim.nacl


def verify_all(message: bytes, records: Mapping[str, str]) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of `message`, top first; `records` maps DNS name -> TXT."""

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip("."), "").encode()

    checker = dkim.DKIM(message)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    verdicts = []
    with _ed25519_support():
        for i in range(count):
            try:
                verdicts.append(bool(checker.verify(idx=i, dnsfunc=dns)))
            except dkim.DKIMException:  # e.g. a body hash mismatch: dkimpy raises where it means "fails"
                verdicts.append(False)
    return verdicts

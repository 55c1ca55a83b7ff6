"""The few OpenSSL calls DKIM needs (RSA and Ed25519 signatures), through ctypes on the system's libcrypto.

Why not dkimpy's own RSA: it is pure Python and takes ~7 ms per RSA-2048 signature, 140 messages a
second on one core; OpenSSL signs the same in ~0.2 ms and releases the GIL while it does. libcrypto is
already on every machine Python's `ssl` module runs on, so this needs no new package. Only the stable
OpenSSL 3 API is used (no struct layouts, no macros). When libcrypto cannot be loaded, `available()`
is False and `epistola.delivery.dkim` falls back to dkimpy's own code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ubyte, c_void_p

from epistola.errors import ConfigError

EVP_PKEY_RSA = 6
EVP_PKEY_ED25519 = 1087
_RSA_PKCS1_PADDING = 1
_BIO_CTRL_INFO = 3


class OpenSSLUnavailable(Exception):
    """libcrypto (OpenSSL 3) could not be loaded."""


@functools.cache
def _lib() -> ctypes.CDLL:
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.3.dylib"]
    last: OSError | None = None
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            last = exc
            continue
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() < 0x30000000:
            continue
        _declare(lib)
        return lib
    raise OpenSSLUnavailable(f"libcrypto 3 not found ({last})")


def _declare(lib: ctypes.CDLL) -> None:
    sigs: dict[str, tuple[object, list[object]]] = {
        "BIO_new_mem_buf": (c_void_p, [c_void_p, c_int]),
        "BIO_new": (c_void_p, [c_void_p]),
        "BIO_s_mem": (c_void_p, []),
        "BIO_free": (c_int, [c_void_p]),
        "BIO_ctrl": (c_long, [c_void_p, c_int, c_long, c_void_p]),
        "PEM_read_bio_PrivateKey": (c_void_p, [c_void_p, c_void_p, c_void_p, c_void_p]),
        "PEM_write_bio_PrivateKey": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_int, c_void_p, c_void_p]),
        "EVP_PKEY_new_raw_private_key": (c_void_p, [c_int, c_void_p, c_char_p, c_size_t]),
        "EVP_PKEY_get_raw_public_key": (c_int, [c_void_p, c_void_p, POINTER(c_size_t)]),
        "EVP_PKEY_get_id": (c_int, [c_void_p]),
        "EVP_PKEY_get_bits": (c_int, [c_void_p]),
        "EVP_PKEY_free": (None, [c_void_p]),
        "EVP_PKEY_CTX_new": (c_void_p, [c_void_p, c_void_p]),
        "EVP_PKEY_CTX_new_id": (c_void_p, [c_int, c_void_p]),
        "EVP_PKEY_CTX_free": (None, [c_void_p]),
        "EVP_PKEY_sign_init": (c_int, [c_void_p]),
        "EVP_PKEY_CTX_set_rsa_padding": (c_int, [c_void_p, c_int]),
        "EVP_PKEY_CTX_set_signature_md": (c_int, [c_void_p, c_void_p]),
        "EVP_PKEY_sign": (c_int, [c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_PKEY_keygen_init": (c_int, [c_void_p]),
        "EVP_PKEY_CTX_set_rsa_keygen_bits": (c_int, [c_void_p, c_int]),
        "EVP_PKEY_keygen": (c_int, [c_void_p, POINTER(c_void_p)]),
        "EVP_sha256": (c_void_p, []),
        "EVP_MD_CTX_new": (c_void_p, []),
        "EVP_MD_CTX_free": (None, [c_void_p]),
        "EVP_DigestSignInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestSign": (c_int, [c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_PKEY_new_raw_public_key": (c_void_p, [c_int, c_void_p, c_char_p, c_size_t]),
        "EVP_DigestVerifyInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestVerify": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
        "i2d_PUBKEY": (c_int, [c_void_p, POINTER(POINTER(c_ubyte))]),
        "ERR_get_error": (ctypes.c_ulong, []),
        "ERR_error_string_n": (None, [ctypes.c_ulong, c_char_p, c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes


def available() -> bool:
    try:
        _lib()
    except OpenSSLUnavailable:
        return False
    return os.environ.get("EPISTOLA_NO_OPENSSL") is None  # lets the tests exercise the fallback


def _error(what: str) -> str:
    lib = _lib()
    code = lib.ERR_get_error()
    reasons = []
    while code:
        buf = ctypes.create_string_buffer(256)
        lib.ERR_error_string_n(code, buf, len(buf))
        reasons.append(buf.value.decode(errors="replace"))
        code = lib.ERR_get_error()
    return f"{what}: {'; '.join(reasons) or 'OpenSSL gave no reason'}"


class PrivateKey:
    """An OpenSSL private key held for the life of this object; `sign_digest` is thread-safe."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        lib = _lib()
        kind = lib.EVP_PKEY_get_id(handle)
        if kind == EVP_PKEY_RSA:
            self.algorithm = "rsa"
        elif kind == EVP_PKEY_ED25519:
            self.algorithm = "ed25519"
        else:
            lib.EVP_PKEY_free(handle)
            self._handle = 0
            raise ConfigError("DKIM keys must be RSA or Ed25519")
        self.bits = int(lib.EVP_PKEY_get_bits(handle))

    @classmethod
    def from_pem(cls, pem: bytes) -> PrivateKey:
        lib = _lib()
        bio = lib.BIO_new_mem_buf(pem, len(pem))
        try:
            handle = lib.PEM_read_bio_PrivateKey(bio, None, None, None)
        finally:
            lib.BIO_free(bio)
        if not handle:
            raise ConfigError(_error("not a readable PEM private key"))
        return cls(handle)

    @classmethod
    def ed25519_from_seed(cls, seed: bytes) -> PrivateKey:
        if len(seed) != 32:
            raise ConfigError(f"an Ed25519 private key is 32 bytes, not {len(seed)}")
        handle = _lib().EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, None, seed, 32)
        if not handle:
            raise ConfigError(_error("not an Ed25519 key"))
        return cls(handle)

    @classmethod
    def generate_rsa(cls, bits: int = 2048) -> PrivateKey:
        lib = _lib()
        ctx = lib.EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, None)
        handle = c_void_p()
        try:
            ok = (
                lib.EVP_PKEY_keygen_init(ctx) > 0
                and lib.EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) > 0
                and lib.EVP_PKEY_keygen(ctx, byref(handle)) > 0
            )
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok or not handle.value:
            raise ConfigError(_error("RSA key generation failed"))
        return cls(handle.value)

    def to_pem(self) -> bytes:
        """The key as PKCS#8 PEM (unencrypted): for writing a key file."""
        lib = _lib()
        bio = lib.BIO_new(lib.BIO_s_mem())
        try:
            if lib.PEM_write_bio_PrivateKey(bio, self._handle, None, None, 0, None, None) <= 0:
                raise ConfigError(_error("cannot write the key"))
            data = c_char_p()
            length = lib.BIO_ctrl(bio, _BIO_CTRL_INFO, 0, byref(data))
            return ctypes.string_at(data, length)
        finally:
            lib.BIO_free(bio)

    def public_key(self) -> bytes:
        """What goes into the DNS record's p=: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for Ed25519."""
        lib = _lib()
        if self.algorithm == "ed25519":
            size = c_size_t(32)
            buf = ctypes.create_string_buffer(32)
            if lib.EVP_PKEY_get_raw_public_key(self._handle, buf, byref(size)) <= 0:
                raise ConfigError(_error("cannot export the public key"))
            return buf.raw[: size.value]
        length = lib.i2d_PUBKEY(self._handle, None)
        out = (c_ubyte * length)()
        cursor = ctypes.cast(out, POINTER(c_ubyte))
        lib.i2d_PUBKEY(self._handle, byref(cursor))
        return bytes(out)

    def sign_digest(self, digest: bytes) -> bytes:
        """RSA: PKCS#1 v1.5 over a SHA-256 `digest`. Ed25519: PureEdDSA over the digest (RFC 8463)."""
        lib = _lib()
        size = c_size_t(0)
        if self.algorithm == "ed25519":
            md = lib.EVP_MD_CTX_new()
            try:
                if lib.EVP_DigestSignInit(md, None, None, None, self._handle) <= 0:
                    raise ConfigError(_error("Ed25519 signing failed"))
                size.value = 64
                buf = ctypes.create_string_buffer(64)
                if lib.EVP_DigestSign(md, buf, byref(size), digest, len(digest)) <= 0:
                    raise ConfigError(_error("Ed25519 signing failed"))
            finally:
                lib.EVP_MD_CTX_free(md)
            return buf.raw[: size.value]
        ctx = lib.EVP_PKEY_CTX_new(self._handle, None)
        try:
            ok = (
                lib.EVP_PKEY_sign_init(ctx) > 0
                and lib.EVP_PKEY_CTX_set_rsa_padding(ctx, _RSA_PKCS1_PADDING) > 0
                and lib.EVP_PKEY_CTX_set_signature_md(ctx, lib.EVP_sha256()) > 0
                and lib.EVP_PKEY_sign(ctx, None, byref(size), digest, len(digest)) > 0
            )
            buf = ctypes.create_string_buffer(size.value or 1)
            ok = ok and lib.EVP_PKEY_sign(ctx, buf, byref(size), digest, len(digest)) > 0
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok:
            raise ConfigError(_error("RSA signing failed"))
        return buf.raw[: size.value]

    def __del__(self) -> None:
        if getattr(self, "_handle", 0):
            _lib().EVP_PKEY_free(self._handle)
            self._handle = 0


def verify_ed25519(public: bytes, signature: bytes, data: bytes) -> bool:
    """Check an Ed25519 signature (used by the tests to let dkimpy verify without PyNaCl)."""
    lib = _lib()
    key = lib.EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, None, public, len(public))
    if not key:
        raise ValueError(_error("not an Ed25519 public key"))
    md = lib.EVP_MD_CTX_new()
    try:
        ok = lib.EVP_DigestVerifyInit(md, None, None, None, key) > 0 and (
            lib.EVP_DigestVerify(md, signature, len(signature), data, len(data)) == 1
        )
    finally:
        lib.EVP_MD_CTX_free(md)
        lib.EVP_PKEY_free(key)
        lib.ERR_get_error()
    return bool(ok)

"""Browser sessions for the marketer UI: a signed, expiring cookie that names an API key.

The cookie holds no secret of its own: the key's id, an expiry and an HMAC over both with the instance's
secret. Every request looks the key up again, so revoking a key ends its sessions at once. Forms carry a
CSRF token derived from the cookie, and the cookie is SameSite=Strict and HttpOnly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from sqlalchemy import Connection

from epistola.accounts import ApiKey, get_key
from epistola.errors import NotFound

COOKIE = "epistola_session"
LIFETIME = timedelta(hours=8)


def _mac(secret: bytes, payload: bytes, purpose: str) -> str:
    return hmac.new(secret, purpose.encode() + b"\0" + payload, hashlib.sha256).hexdigest()


def issue(secret: bytes, key: ApiKey, now: datetime) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"k": key.id, "exp": int((now + LIFETIME).timestamp())}).encode())
    return f"{payload.decode()}.{_mac(secret, payload, 'session')}"


def read(secret: bytes, cookie: str | None, conn: Connection, now: datetime) -> ApiKey | None:
    """The active key behind a valid, unexpired cookie; None for anything else."""
    if not cookie or "." not in cookie:
        return None
    payload, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(mac, _mac(secret, payload.encode(), "session")):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        key_id, expires = int(data["k"]), int(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < now.timestamp():
        return None
    try:
        key = get_key(conn, key_id)
    except NotFound:
        return None
    return key if key.active else None


def csrf_token(secret: bytes, cookie: str) -> str:
    return _mac(secret, cookie.encode(), "csrf")[:32]


def csrf_ok(secret: bytes, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(secret, cookie or ""), token or "")

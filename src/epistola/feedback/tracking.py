"""Link and open tracking, the store side: tokens minted at send time, clicks and opens recorded later.

A token is random (≥ 128 bits), not derived from anything, and maps to the URL recorded when the
message was sent; a click can only ever redirect there, so there is no open redirect to abuse. Opens
and clicks by mail scanners and image proxies are kept but flagged `machine`, so they are not counted
as a customer's response.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, select

from epistola.errors import InputError, Problem
from epistola.store.schema import messages, tracking_events, tracking_links

TOKEN_BYTES = 18  # 144 bits -> 24 URL-safe characters
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,64}")
# Outside the token alphabet, so it matches no row: a malformed token costs the same lookup as an
# unknown one and its timing tells nothing.
_NEVER_MINTED = "~" * (TOKEN_BYTES * 4 // 3)

MACHINE_CLICK_WINDOW = timedelta(seconds=10)
"""Clicks sooner than this after the hand-over are security scanners following every link."""

MACHINE_AGENTS: tuple[str, ...] = (
    # image proxies and mail security gateways
    "googleimageproxy",
    "ggpht.com",
    "yahoomailproxy",
    "barracuda",
    "mimecast",
    "proofpoint",
    "messagelabs",
    "symantec",
    "trendmicro",
    "forcepoint",
    "sophos",
    "cisco ironport",
    "bingpreview",
    # link previewers
    "slackbot",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "discordbot",
    "whatsapp/",
    "telegrambot",
    # scripts and headless browsers
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "headlesschrome",
    "phantomjs",
    "googlebot",
    "bot/",
    "crawler",
    "spider",
)
_MACHINE_RE = re.compile("|".join(re.escape(agent) for agent in MACHINE_AGENTS))


# --- pure rules -------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed(token: str) -> bool:
    return TOKEN_RE.fullmatch(token) is not None


def never_minted() -> str:
    """A probe no token can equal: malformed input is looked up with it, so it costs what a miss costs."""
    return _NEVER_MINTED


def is_trackable(url: str) -> bool:
    """Only absolute http(s) URLs are wrapped: a redirect must never lead to `javascript:` or a file."""
    # `" " in url or not url.isprintable()` is "any whitespace or unprintable character": every other
    # whitespace character is unprintable (checked over all of Unicode by a test), and it is one C call.
    if not url or len(url) > 8000 or " " in url or not url.isprintable():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_machine_agent(user_agent: str | None) -> bool:
    """Known scanners, proxies and scripts; a request without any user agent is no person's mail client."""
    if not user_agent or not user_agent.strip():
        return True
    return _MACHINE_RE.search(user_agent[:1000].lower()) is not None


def is_machine_click(user_agent: str | None, *, sent_at: datetime | None, now: datetime) -> bool:
    """A click is a machine's if its agent says so, or it came before or just after the hand-over.

    `sent_at` is still empty while the provider is accepting the message, which is exactly when gateway
    scanners follow the links.
    """
    if is_machine_agent(user_agent):
        return True
    return sent_at is None or now - sent_at < MACHINE_CLICK_WINDOW


# Webmail image proxies fetch the pixel when a person opens the message (Gmail, Yahoo): a real open.
# They never follow links, so for clicks they stay in MACHINE_AGENTS.
OPEN_ON_BEHALF_OF_PERSON: tuple[str, ...] = ("googleimageproxy", "ggpht.com", "yahoomailproxy")


def is_machine_open(user_agent: str | None, *, sent_at: datetime | None = None, now: datetime | None = None) -> bool:
    """An open is a machine's unless a person's mail client, or a webmail proxy acting on an open, asked.

    Given the hand-over time, an open before it or within `MACHINE_CLICK_WINDOW` of it is a machine's too:
    gateways and privacy proxies fetch images on arrival, whatever user agent they present.
    """
    if now is not None and (sent_at is None or now - sent_at < MACHINE_CLICK_WINDOW):
        return True
    if user_agent and any(proxy in user_agent[:1000].lower() for proxy in OPEN_ON_BEHALF_OF_PERSON):
        return False
    return is_machine_agent(user_agent)


def click_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/t/c/{token}"


def pixel_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/t/o/{token}.gif"


# --- minting (the send hot path) ----------------------------------------------------------------------


def _unique_urls(message_id: int, urls: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    bad: list[Problem] = []
    for position, url in enumerate(urls):
        if not is_trackable(url):
            bad.append(Problem(message="not an absolute http(s) URL", field="url", row=position))
        else:
            seen.setdefault(url, None)
    if bad:
        raise InputError(f"message {message_id}: links that cannot be tracked", problems=bad)
    return list(seen)


def plan_click_tokens(message_id: int, urls: Iterable[str]) -> dict[str, str]:
    """Tokens for the trackable URLs among `urls`, not yet stored: for rewriting links while rendering.

    Links that cannot be tracked (``mailto:``, ``tel:``, anchors) are left out, so the renderer keeps
    them as they are. Each call makes new tokens: plan a message's links once, then `store_click_tokens`.
    """
    del message_id  # part of the signature so tokens may one day be bound to their message
    return {url: new_token() for url in dict.fromkeys(urls) if is_trackable(url)}


def store_click_tokens(conn: Connection, planned: Mapping[int, Mapping[str, str]], now: datetime) -> None:
    """Store planned tokens ({message_id: {url: token}}) in one INSERT."""
    rows: list[dict[str, object]] = []
    for message_id, tokens in planned.items():
        bad = [url for url, token in tokens.items() if not is_trackable(url) or not is_well_formed(token)]
        if bad:
            raise InputError(
                f"message {message_id}: planned links that cannot be tracked",
                problems=[Problem(message="not an absolute http(s) URL with a valid token", field="url")],
            )
        rows.extend(
            {"token": token, "message_id": message_id, "kind": "click", "url": url, "created_at": now}
            for url, token in tokens.items()
        )
    if rows:
        conn.execute(tracking_links.insert(), rows)


def mint_for_messages(conn: Connection, links: Mapping[int, Sequence[str]], now: datetime) -> dict[int, dict[str, str]]:
    """Mint click tokens for many messages in one INSERT; returns {message_id: {url: token}}.

    Each distinct URL of a message gets one token. Nothing is written when any URL is untrackable.
    """
    minted = {
        message_id: {url: new_token() for url in _unique_urls(message_id, urls)} for message_id, urls in links.items()
    }
    store_click_tokens(conn, minted, now)
    return minted


def mint_click_links(conn: Connection, message_id: int, urls: Sequence[str], now: datetime) -> dict[str, str]:
    """Mint click tokens for one message's links; returns {url: token}."""
    return mint_for_messages(conn, {message_id: urls}, now)[message_id]


def mint_open_tokens(conn: Connection, message_ids: Iterable[int], now: datetime) -> dict[int, str]:
    """One open-pixel token per message, in one INSERT."""
    minted = plan_message_tokens(message_ids)
    store_message_tokens(conn, "open", minted, now)
    return minted


def plan_message_tokens(message_ids: Iterable[int]) -> dict[int, str]:
    """One new token per message (an open pixel, a personal page), not yet stored: see `store_message_tokens`."""
    return {message_id: new_token() for message_id in dict.fromkeys(message_ids)}


def store_message_tokens(conn: Connection, kind: str, tokens: Mapping[int, str], now: datetime) -> None:
    """Store planned per-message tokens of one `kind` (``open``, ``purl``) in one INSERT."""
    if tokens:
        conn.execute(
            tracking_links.insert(),
            [
                {"token": token, "message_id": message_id, "kind": kind, "url": None, "created_at": now}
                for message_id, token in tokens.items()
            ],
        )


def mint_open_token(conn: Connection, message_id: int, now: datetime) -> str:
    return mint_open_tokens(conn, [message_id], now)[message_id]


# --- recording ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Link:
    id: int
    message_id: int
    url: str | None
    sent_at: datetime | None


# Built once: the click path runs this for every recipient who clicks, and building a statement costs
# several times what running it does.
_LOOKUP = (
    select(tracking_links.c.id, tracking_links.c.message_id, tracking_links.c.url, messages.c.sent_at)
    .join(messages, messages.c.id == tracking_links.c.message_id)
    .where(tracking_links.c.token == bindparam("token"), tracking_links.c.kind == bindparam("kind"))
)


def _lookup(conn: Connection, token: str, kind: str) -> _Link | None:
    probe = token if is_well_formed(token) else _NEVER_MINTED
    row = conn.execute(_LOOKUP, {"token": probe, "kind": kind}).first()
    return None if row is None else _Link(id=row.id, message_id=row.message_id, url=row.url, sent_at=row.sent_at)


def click_event(
    conn: Connection, token: str, *, user_agent: str | None, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """The URL recorded at send time and the `tracking_events` row of this click; None for any token
    that is not ours. Nothing is written: the caller stores the row (now, or in a batch)."""
    found = _lookup(conn, token, "click")
    if found is None:
        return None
    url = found.url
    if url is None or not is_trackable(url):  # rows written by anything but `mint_*` are not trusted
        return None
    row = {
        "message_id": found.message_id,
        "link_id": found.id,
        "kind": "click",
        "machine": is_machine_click(user_agent, sent_at=found.sent_at, now=now),
        "occurred_at": now,
    }
    return url, row


def resolve_click(conn: Connection, token: str, *, user_agent: str | None, now: datetime) -> str | None:
    """Record a click and return the URL recorded at send time; None for any token that is not ours."""
    hit = click_event(conn, token, user_agent=user_agent, now=now)
    if hit is None:
        return None
    conn.execute(tracking_events.insert().values(**hit[1]))
    return hit[0]


def open_event(conn: Connection, token: str, *, user_agent: str | None, now: datetime) -> dict[str, Any] | None:
    """The `tracking_events` row of an open, if the token is a known pixel token (nothing is written)."""
    found = _lookup(conn, token, "open")
    if found is None:
        return None
    return {
        "message_id": found.message_id,
        "link_id": found.id,
        "kind": "open",
        "machine": is_machine_open(user_agent, sent_at=found.sent_at, now=now),
        "occurred_at": now,
    }


def record_open(conn: Connection, token: str, *, user_agent: str | None, now: datetime) -> bool:
    """Record an open if the token is a known pixel token; say whether it was."""
    row = open_event(conn, token, user_agent=user_agent, now=now)
    if row is not None:
        conn.execute(tracking_events.insert().values(**row))
    return row is not None

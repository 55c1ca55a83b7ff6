"""The e-mail channel: hands ready MIME bytes to an SMTP server over a pool of persistent connections.

The one hard question is what a failure means, because the answer decides between "retry", "never
retry" and "never resend". A reply code is a definite answer (4xx: not now, 5xx: never). A connection
that breaks before the message content went out means nothing was delivered. A connection that breaks
or times out during DATA means the server may have queued it: that is `UncertainDeliveryError`, and the
message is not sent again. (A break right after the DATA command, before the content, looks the same
from here; it is counted as uncertain too, erring on the side of never sending twice.)

When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one packet and the message
after the 354: two round trips a message instead of four, which is most of what sending costs here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any, Literal

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX, SMTPProtocol, normalize_message_line_endings
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from epistola.config import Settings
from epistola.delivery.ports import Envelope
from epistola.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
Phase = Literal["connect", "mail", "rcpt", "data"]

_QUEUE_ID = re.compile(r"queued as\s+<?([^\s>]+)>?", re.IGNORECASE)
_AUTH_CODES = frozenset({530, 534, 535, 538})
_NETWORK_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, TimeoutError)
_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+@[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+")


def classify(phase: Phase, code: int | None) -> type[DeliveryError]:
    """What a failure in `phase` means: a reply `code`, or ``None`` when the connection failed.

    Before a connection is ready, everything is temporary, and so are authentication replies (530,
    534, 535, 538): a wrong password or a refusing server is an operator's problem to fix, not a
    reason to drop the customer's message.
    """
    if code is None:
        return UncertainDeliveryError if phase == "data" else TransientDeliveryError
    if phase == "connect" or code in _AUTH_CODES or 400 <= code < 500:
        return TransientDeliveryError
    if 500 <= code < 600:
        return PermanentDeliveryError
    return TransientDeliveryError  # a reply outside 4xx/5xx where one was expected: try again later


def provider_id(reply: str, data: bytes) -> str:
    """The server's queue id from its reply, else the message's Message-ID, else the reply itself."""
    match = _QUEUE_ID.search(reply)
    if match:
        return match.group(1)[:200]
    header = BytesHeaderParser(policy=default_policy).parsebytes(data).get("Message-ID")
    if header:
        return str(header).strip()[:200]
    return reply.strip()[:200] or "accepted"


def prepare_data(data: bytes) -> bytes:
    """The DATA payload: CRLF line endings, leading dots doubled, the terminating dot line.

    What aiosmtplib's `data()` sends, but it runs two regular expressions over every message (~0.5 ms
    for a 30 kB HTML e-mail, a third of a worker's time); composed messages are already CRLF-only, which
    a few C-speed counts confirm, so the expressions run only for the rare message that needs them.
    Dot-stuffing is a `replace` (MJML's HTML has CSS lines starting with a dot in every message).
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = normalize_message_line_endings(data)
    elif not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\n.", b"\n..") + b".\r\n"


class _Connection(aiosmtplib.SMTP):
    """An aiosmtplib connection that reports each protocol it closes (aiosmtplib closes on its own
    errors too), so that the channel can wait for TLS shutdowns before its event loop ends."""

    def __init__(self, closing: list[asyncio.BaseProtocol], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._closing = closing

    def close(self) -> None:
        if self.protocol is not None:
            self._closing.append(self.protocol)
        super().close()


async def _connections_lost(protocols: list[asyncio.BaseProtocol], *, within_s: float = 1.0) -> None:
    """Wait (briefly) until closed connections are really gone: a TLS connection closes with a
    close_notify exchange, and a loop that ends before it leaves the raw socket open."""
    deadline = asyncio.get_running_loop().time() + within_s
    while any(not getattr(p, "_connection_lost", True) for p in protocols):
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.005)


def _protocol(smtp: aiosmtplib.SMTP) -> SMTPProtocol:
    protocol = smtp.protocol
    if protocol is None or protocol._command_lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    return protocol


async def _data(smtp: aiosmtplib.SMTP, data: bytes, timeout: float) -> aiosmtplib.SMTPResponse:
    """DATA and the message, as `SMTP.data` does it (same replies, same errors), with `prepare_data`."""
    protocol = _protocol(smtp)
    try:
        async with protocol._command_lock:  # type: ignore[union-attr]
            protocol._response_pending = True
            protocol.write(b"DATA\r\n")
            start = await protocol.read_response(timeout=timeout)
            if start.code != SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(start.code, start.message)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()
        raise
    return await _content(smtp, data, timeout)


async def _content(smtp: aiosmtplib.SMTP, data: bytes, timeout: float) -> aiosmtplib.SMTPResponse:
    """The message itself, after the server's 354; returns the server's 250."""
    protocol = _protocol(smtp)
    payload = prepare_data(data)
    try:
        async with protocol._command_lock:  # type: ignore[union-attr]
            protocol._response_pending = True
            protocol.write(payload)
            response = await protocol.read_response(timeout=timeout)
            if response.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPDataError(response.code, response.message)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()
        raise
    return response


async def _pipelined(smtp: aiosmtplib.SMTP, commands: bytes, replies: list[SMTPResponse], timeout: float) -> None:
    """Write several commands at once (RFC 2920) and append their replies to `replies` as they come.

    aiosmtplib expects one reply per command: it parses the first reply of a packet and leaves the rest
    in its buffer, so that is read first. It also drops data arriving while a parsed reply waits to be
    picked up; awaiting that reply directly (no `wait_for`, whose extra callback opens such a gap, hence
    `asyncio.timeout`) picks it up before the loop handles the next packet.
    """
    protocol = _protocol(smtp)
    count = commands.count(b"\r\n")
    async with protocol._command_lock, asyncio.timeout(timeout):  # type: ignore[union-attr]
        protocol._response_pending = True
        protocol.write(commands)
        while len(replies) < count:
            protocol._response_pending = True
            buffered = protocol._read_response_from_buffer()
            replies.append(buffered if buffered is not None else await protocol.read_response(timeout=None))


_PIPELINE: tuple[tuple[Phase, tuple[int, ...]], ...] = (
    ("mail", (SMTPStatus.completed,)),
    ("rcpt", (SMTPStatus.completed, SMTPStatus.will_forward)),
    ("data", (SMTPStatus.start_input,)),
)


def _envelope_commands(envelope: Envelope, options: list[str], encoding: str) -> bytes:
    """MAIL, RCPT and DATA for one message, to be written at once."""
    mail = b" ".join([b"MAIL FROM:" + _quoted_sender(envelope.sender, encoding), *(o.encode("ascii") for o in options)])
    return mail + b"\r\nRCPT TO:" + _quoted(envelope.recipient, encoding) + b"\r\nDATA\r\n"


def _pipeline_outcome(replies: Sequence[SMTPResponse]) -> tuple[Phase, SMTPResponse | None]:
    """The phase reached and the first refusal among the replies to `_envelope_commands` so far.

    With no refusal, the phase is that of the reply still awaited: "data" only once MAIL and RCPT were
    accepted, so a connection lost before that is temporary, never uncertain.
    """
    for (phase, accepted), reply in zip(_PIPELINE, replies, strict=False):
        if reply.code not in accepted:
            return phase, reply
    return _PIPELINE[min(len(replies), len(_PIPELINE) - 1)][0], None


@functools.lru_cache(maxsize=64)
def _quoted_sender(address: str, encoding: str) -> bytes:
    return _quoted(address, encoding)


def _quoted(address: str, encoding: str) -> bytes:
    """``<address>`` for a command line, refusing what could smuggle in parameters (ValueError).

    A plain ``local@domain`` is taken as it is; anything else goes through aiosmtplib's own parser.
    """
    if _PLAIN_ADDRESS.fullmatch(address):
        return b"<" + address.encode(encoding) + b">"
    quoted = quote_address(address).encode(encoding)
    if COMMAND_INJECTION_REGEX.search(quoted):
        raise ValueError(f"address {address!r} contains control characters")
    return quoted


class _StaleConnection(Exception):
    """A pooled connection turned out to be dead before anything was sent on it."""


class SmtpChannel:
    """`Channel` for e-mail on aiosmtplib: up to `connections` concurrent, reused connections.

    Connections belong to the event loop they were opened in; `close()` them before that loop ends
    (the worker does this when its `run` returns). A later `send` in a new loop opens fresh ones.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        connections: int = 4,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ConfigError(f"unknown SMTP security {security!r}", hint="Use none, starttls or tls.")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.connections = max(1, connections)
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[aiosmtplib.SMTP] = []
        self._closing: list[asyncio.BaseProtocol] = []  # closed connections that may still be shutting down

    @classmethod
    def from_settings(cls, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> SmtpChannel:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password,
            timeout=settings.smtp_timeout_s,
            connections=settings.smtp_connections,
            tls_context=tls_context,
        )

    def __repr__(self) -> str:
        return f"SmtpChannel({self.host}:{self.port}, security={self.security}, connections={self.connections})"

    async def send(self, envelope: Envelope) -> str:
        """Hand one message over; returns the provider's id for it (see `provider_id`)."""
        async with self._pool_slots():
            for retry_on_fresh in (True, False):
                smtp, reused = await self._checkout()
                try:
                    reply = await self._transaction(smtp, envelope, stale_possible=reused and retry_on_fresh)
                except _StaleConnection:
                    continue  # the server dropped an idle connection: one more go on a fresh one
                except DeliveryError:
                    self._checkin(smtp)
                    raise
                except BaseException:  # cancelled mid-transaction: the connection is in an unknown state
                    smtp.close()
                    raise
                self._checkin(smtp)
                return provider_id(reply, envelope.data)
        raise TransientDeliveryError("the SMTP server closed every connection before MAIL")  # pragma: no cover

    async def close(self) -> None:
        """Say QUIT on every idle connection (best effort) and forget the pool."""
        idle, self._idle = self._idle, []
        for smtp in idle:
            try:
                if smtp.is_connected:
                    await smtp.quit()
            except (aiosmtplib.SMTPException, *_NETWORK_ERRORS):
                pass
            finally:
                smtp.close()
        closing, self._closing = self._closing, []
        await _connections_lost(closing)
        self._loop = None
        self._slots = None

    # --- pool -----------------------------------------------------------------------------------------

    def _pool_slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            for smtp in self._idle:  # opened in a loop that is gone: cannot be used from this one
                smtp.close()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.connections)
        return self._slots

    async def _checkout(self) -> tuple[aiosmtplib.SMTP, bool]:
        while self._idle:
            smtp = self._idle.pop()
            if smtp.is_connected:
                return smtp, True
            smtp.close()
        self._closing = [p for p in self._closing if not getattr(p, "_connection_lost", True)]
        smtp = _Connection(
            self._closing,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
        )
        try:
            await smtp.connect()
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            raise TransientDeliveryError(
                f"SMTP server {self.host}:{self.port} refused the session: {exc.code} {exc.message}"
            ) from exc
        except (aiosmtplib.SMTPException, *_NETWORK_ERRORS) as exc:
            smtp.close()
            raise TransientDeliveryError(
                f"cannot connect to SMTP server {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            smtp.close()
            raise
        return smtp, False

    def _checkin(self, smtp: aiosmtplib.SMTP) -> None:
        if smtp.is_connected and len(self._idle) < self.connections:
            self._idle.append(smtp)
        else:
            smtp.close()

    # --- one message ----------------------------------------------------------------------------------

    async def _transaction(self, smtp: aiosmtplib.SMTP, envelope: Envelope, *, stale_possible: bool) -> str:
        phase: Phase = "connect"
        try:
            if smtp.is_ehlo_or_helo_needed:  # the extensions below are known only after EHLO
                await smtp.ehlo()
            options = self._mail_options(smtp, envelope)
            encoding = "ascii" if "SMTPUTF8" not in options else "utf-8"
            phase = "mail"
            if smtp.supports_extension("pipelining"):
                replies: list[SMTPResponse] = []
                try:
                    await _pipelined(smtp, _envelope_commands(envelope, options, encoding), replies, self.timeout)
                finally:
                    phase, refusal = _pipeline_outcome(replies)
                if refusal is not None:
                    if replies[-1].code == SMTPStatus.start_input:  # it would take whatever comes next as the message
                        smtp.close()
                    raise aiosmtplib.SMTPResponseException(refusal.code, refusal.message)
                response = await _content(smtp, envelope.data, self.timeout)
            else:
                await smtp.mail(envelope.sender, options=options, encoding=encoding)
                phase = "rcpt"
                await smtp.rcpt(envelope.recipient, encoding=encoding)
                phase = "data"
                response = await _data(smtp, envelope.data, self.timeout)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(smtp)
            kind = classify(phase, exc.code)
            logger.info("message %s: SMTP %s refused at %s (%s)", envelope.message_id, exc.code, phase, kind.__name__)
            raise kind(f"SMTP {exc.code} at {phase.upper()}: {exc.message}") from exc
        except (ValueError, aiosmtplib.SMTPNotSupported) as exc:  # an address the server cannot take
            await self._reset(smtp)
            raise PermanentDeliveryError(f"message {envelope.message_id}: {exc}") from exc
        except _NETWORK_ERRORS as exc:
            smtp.close()
            if stale_possible and phase in ("connect", "mail"):
                raise _StaleConnection from exc
            kind = classify(phase, None)
            logger.warning(
                "message %s: connection failed at %s: %s (%s)",
                envelope.message_id,
                phase,
                type(exc).__name__,
                kind.__name__,
            )
            raise kind(f"connection failed at {phase.upper()}: {type(exc).__name__}: {exc}") from exc
        return response.message

    @staticmethod
    def _mail_options(smtp: aiosmtplib.SMTP, envelope: Envelope) -> list[str]:
        options: list[str] = []
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(envelope.data)}")
        if not (envelope.sender.isascii() and envelope.recipient.isascii()):
            if not smtp.supports_extension("smtputf8"):
                raise PermanentDeliveryError(
                    f"message {envelope.message_id}: non-ASCII address, and the server lacks SMTPUTF8"
                )
            options.append("SMTPUTF8")
        return options

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> None:
        """RSET after a refusal so the connection can carry the next message; drop it if that fails."""
        if not smtp.is_connected:
            return
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, *_NETWORK_ERRORS):
            smtp.close()

"""A real SMTP server that keeps what it is given: for the demo, and for tests of delivery.

It runs aiosmtpd in a thread, writes each accepted message to ``<folder>/<sequence>-<Message-ID>.eml``
when given a folder, and remembers ``(mail_from, rcpt_tos, data)``. A `SinkPolicy` makes it misbehave
on purpose, the ways real servers do: unknown users, greylisting, a connection that dies after the
content arrived, a slow reply.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import ssl
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class ReceivedMessage(NamedTuple):
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


@dataclass(frozen=True, kw_only=True)
class SinkPolicy:
    """How the sink answers; recipients are matched against shell-style patterns (``reject-*@*``)."""

    reject: tuple[str, ...] = ()  # 550 5.1.1 at RCPT
    defer: tuple[str, ...] = ()  # 451 4.3.0 at RCPT, every time
    defer_once: tuple[str, ...] = ()  # 451 4.3.0 at RCPT the first time an address is seen
    reject_data: tuple[str, ...] = ()  # 554 5.6.0 after the content
    drop_after_data: tuple[str, ...] = ()  # keeps the message, then closes the connection unanswered
    delay_s: float = 0.0  # pause between keeping a message and answering


def _matches(address: str, patterns: Iterable[str]) -> bool:
    lowered = address.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def _file_stem(data: bytes) -> str:
    message_id = BytesHeaderParser(policy=default_policy).parsebytes(data).get("Message-ID")
    cleaned = re.sub(r"[^A-Za-z0-9._@-]+", "_", str(message_id or "").strip().strip("<>"))
    return cleaned[:100] or "no-message-id"


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.pipelining:  # aiosmtpd reads commands one by one, so it copes; it just does not say so
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        if self.sink._credentials is not None and not session.authenticated:
            return "530 5.7.0 authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        policy = self.sink.policy
        if _matches(address, policy.reject):
            return "550 5.1.1 user unknown"
        if _matches(address, policy.defer) or (
            _matches(address, policy.defer_once) and self.sink._first_sight(address)
        ):
            return "451 4.3.0 try again"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        policy = self.sink.policy
        rcpts = tuple(envelope.rcpt_tos)
        if any(_matches(r, policy.reject_data) for r in rcpts):
            return "554 5.6.0 message refused"
        sequence = self.sink._keep(
            ReceivedMessage(envelope.mail_from, rcpts, bytes(envelope.original_content)), session.peer
        )
        if any(_matches(r, policy.drop_after_data) for r in rcpts):
            server.transport.close()
            await asyncio.sleep(3600)  # cancelled by aiosmtpd as soon as the connection is gone
        if policy.delay_s > 0:
            await asyncio.sleep(policy.delay_s)
        return f"250 2.0.0 Ok: queued as S{sequence:08d}"


class _Controller(Controller):
    """aiosmtpd's Controller, taught to report the port it really got when asked for port 0."""

    def _trigger_server(self) -> None:
        if isinstance(self.server, asyncio.Server) and self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """An in-process SMTP server; use as a context manager, or `start()` and `stop()`.

    `tls_context` offers STARTTLS; with `implicit_tls` the whole session is TLS instead (port 465
    style). `credentials` requires AUTH with that user name and password. `pipelining` offers PIPELINING
    (RFC 2920), as every mainstream relay does; without it, clients send one command at a time.
    """

    def __init__(
        self,
        folder: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        policy: SinkPolicy | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
        pipelining: bool = True,
    ) -> None:
        self.folder = folder
        self.pipelining = pipelining
        self.host = host
        self.port = port
        self.policy = policy or SinkPolicy()
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self._lock = threading.Condition()
        self._received: list[ReceivedMessage] = []
        self._peers: set[object] = set()
        self._seen: set[str] = set()
        self._sequence = 0  # never reset, so file names stay unique after `clear()`
        self._controller: _Controller | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Start serving; returns the (host, port) actually listened on."""
        if self._controller is not None:
            return self.host, self.port
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "sink.epistola",
        }
        if self._tls_context is not None and self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
        if self._credentials is not None:
            # AUTH is required by `handle_MAIL`, not by aiosmtpd, whose own check does not see implicit TLS.
            kwargs.update(
                authenticator=self._authenticate,
                auth_require_tls=self._tls_context is not None and not self._implicit_tls,
            )
        controller = _Controller(_Handler(self), **kwargs)
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self.host, self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what arrived -------------------------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMessage]:
        """A copy of everything kept so far, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def connections(self) -> int:
        """How many distinct client connections delivered at least one message."""
        with self._lock:
            return len(self._peers)

    def recipients(self) -> Counter[str]:
        """How many messages each recipient got."""
        return Counter(r for message in self.received for r in message.rcpt_tos)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least `count` messages arrived; False if `timeout` seconds pass first."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._received) >= count, timeout)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._peers.clear()

    # --- called from the server thread ---------------------------------------------------------------------

    def _keep(self, message: ReceivedMessage, peer: object) -> int:
        with self._lock:
            self._received.append(message)
            self._peers.add(peer)
            self._sequence += 1
            sequence = self._sequence
            self._lock.notify_all()
        if self.folder is not None:
            (self.folder / f"{sequence:06d}-{_file_stem(message.data)}.eml").write_bytes(message.data)
        return sequence

    def _first_sight(self, address: str) -> bool:
        with self._lock:
            if address.lower() in self._seen:
                return False
            self._seen.add(address.lower())
            return True

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        expected = self._credentials
        ok = (
            expected is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == expected
        )
        return AuthResult(success=ok, handled=False)

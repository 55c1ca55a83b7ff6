"""The SMTP channel against a real SMTP server (the sink): what each kind of failure is taken to mean."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.config import load_settings
from epistola.delivery import Envelope, SinkPolicy, SmtpChannel, SmtpSink
from epistola.delivery.smtp import Security, classify, prepare_data, provider_id
from epistola.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)


def envelope(n: int = 1, recipient: str = "anna@example.test") -> Envelope:
    message = EmailMessage(policy=SMTP)
    message["From"] = "news@epistola.test"
    message["To"] = recipient
    message["Subject"] = "Hello"
    message["Message-ID"] = f"<msg-{n}@epistola.test>"
    message.set_content("Hello.\n")
    return Envelope(message_id=n, sender="bounces@epistola.test", recipient=recipient, data=message.as_bytes())


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def sink(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail", pipelining=request.param) as server:
        yield server


def send_all(channel: SmtpChannel, *envelopes: Envelope) -> list[str | DeliveryError]:
    """Send concurrently in one event loop; each result is a provider id or the error raised."""

    async def one(e: Envelope) -> str | DeliveryError:
        try:
            return await channel.send(e)
        except DeliveryError as exc:
            return exc

    async def main() -> list[str | DeliveryError]:
        try:
            return list(await asyncio.gather(*(one(e) for e in envelopes)))
        finally:
            await channel.close()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("phase", "code", "expected"),
    [
        ("connect", None, TransientDeliveryError),  # refused, reset, unreachable
        ("connect", 421, TransientDeliveryError),
        ("connect", 535, TransientDeliveryError),  # bad credentials: the operator's problem, not the message's
        ("connect", 554, TransientDeliveryError),
        ("mail", None, TransientDeliveryError),  # dropped before the content: nothing was delivered
        ("rcpt", None, TransientDeliveryError),
        ("data", None, UncertainDeliveryError),  # dropped or timed out during DATA: it may be queued
        ("mail", 421, TransientDeliveryError),
        ("mail", 451, TransientDeliveryError),
        ("rcpt", 450, TransientDeliveryError),
        ("rcpt", 452, TransientDeliveryError),
        ("data", 421, TransientDeliveryError),  # a definite "not taken", even after the content
        ("data", 451, TransientDeliveryError),
        ("mail", 530, TransientDeliveryError),  # authentication required: fix the settings, keep the message
        ("rcpt", 535, TransientDeliveryError),
        ("mail", 550, PermanentDeliveryError),
        ("rcpt", 550, PermanentDeliveryError),
        ("rcpt", 553, PermanentDeliveryError),
        ("data", 552, PermanentDeliveryError),
        ("data", 554, PermanentDeliveryError),
        ("data", 354, TransientDeliveryError),  # an unexpected code: try again later
    ],
)
def test_classification_table(phase: str, code: int | None, expected: type[DeliveryError]) -> None:
    assert classify(phase, code) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "data", "expected"),
    [
        ("2.0.0 Ok: queued as 4XkT9b0Qz1", b"", "4XkT9b0Qz1"),  # Postfix
        ("OK id=1sA2bC-000abc-1Q", b"Message-ID: <a@b>\r\n\r\n", "<a@b>"),  # no queue id: the Message-ID
        ("2.0.0 Ok: queued as <ABC123>", b"", "ABC123"),
        ("OK", b"Subject: x\r\n\r\nbody", "OK"),  # nothing better: the reply itself
    ],
)
def test_provider_id(reply: str, data: bytes, expected: str) -> None:
    assert provider_id(reply, data) == expected


def test_accepted_message_returns_the_queue_id_and_is_stored(sink: SmtpSink) -> None:
    result = send_all(SmtpChannel(sink.host, sink.port), envelope(7))
    assert result == ["S00000001"]
    [received] = sink.received
    assert received.mail_from == "bounces@epistola.test" and received.rcpt_tos == ("anna@example.test",)
    assert b"Message-ID: <msg-7@epistola.test>" in received.data
    assert [p.name for p in (sink.folder or Path()).iterdir()] == ["000001-msg-7@epistola.test.eml"]


@pytest.mark.parametrize(
    ("policy", "expected", "code"),
    [
        (SinkPolicy(reject=("anna@*",)), PermanentDeliveryError, "550"),
        (SinkPolicy(defer=("*@example.test",)), TransientDeliveryError, "451"),
        (SinkPolicy(reject_data=("anna@example.test",)), PermanentDeliveryError, "554"),
        (SinkPolicy(drop_after_data=("anna@example.test",)), UncertainDeliveryError, "DATA"),
    ],
)
def test_sink_policies_map_to_the_right_error(
    sink: SmtpSink, policy: SinkPolicy, expected: type[DeliveryError], code: str
) -> None:
    sink.policy = policy
    [result] = send_all(SmtpChannel(sink.host, sink.port), envelope())
    assert type(result) is expected
    assert code in str(result)
    assert "anna@example.test" not in repr(envelope())  # envelopes stay out of logs


def test_a_refusal_does_not_spoil_the_connection_for_the_next_message(sink: SmtpSink) -> None:
    sink.policy = SinkPolicy(reject=("bad-*",))
    batch = [envelope(i, "bad-1@example.test" if i % 3 == 0 else f"ok-{i}@example.test") for i in range(12)]
    results = send_all(SmtpChannel(sink.host, sink.port, connections=1), *batch)
    assert [isinstance(r, PermanentDeliveryError) for r in results] == [i % 3 == 0 for i in range(12)]
    assert len(sink.received) == 8 and sink.connections == 1  # RSET, then the same connection carries on


def test_defer_once_fails_then_succeeds(sink: SmtpSink) -> None:
    sink.policy = SinkPolicy(defer_once=("anna@*",))
    channel = SmtpChannel(sink.host, sink.port)
    assert isinstance(send_all(channel, envelope(1))[0], TransientDeliveryError)
    assert send_all(channel, envelope(1)) == ["S00000001"]


def test_a_timeout_waiting_for_the_data_reply_is_uncertain(sink: SmtpSink) -> None:
    sink.policy = SinkPolicy(delay_s=5)
    [result] = send_all(SmtpChannel(sink.host, sink.port, timeout=0.3), envelope())
    assert isinstance(result, UncertainDeliveryError)
    assert len(sink.received) == 1  # exactly the case: the server has it, the client never heard


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        [result] = send_all(SmtpChannel("127.0.0.1", port, timeout=2), envelope())
    assert isinstance(result, TransientDeliveryError) and "cannot connect" in str(result)


def test_connections_are_pooled_and_bounded(sink: SmtpSink) -> None:
    results = send_all(
        SmtpChannel(sink.host, sink.port, connections=2), *(envelope(i, f"r{i}@x.test") for i in range(30))
    )
    assert all(isinstance(r, str) for r in results)
    assert len(set(results)) == 30 and sink.connections <= 2


def test_a_connection_the_server_dropped_is_replaced() -> None:
    first = SmtpSink()
    host, port = first.start()
    channel = SmtpChannel(host, port)

    async def main() -> tuple[str, str, int]:
        one = await channel.send(envelope(1))
        first.stop()  # the pooled connection dies with the server
        with SmtpSink(port=port) as second:
            two = await channel.send(envelope(2))
            await channel.close()
            return one, two, len(second.received)

    assert asyncio.run(main()) == ("S00000001", "S00000001", 1)


def test_non_ascii_addresses_use_smtputf8(sink: SmtpSink) -> None:
    assert send_all(SmtpChannel(sink.host, sink.port), envelope(1, "zoë@exämple.test")) == ["S00000001"]
    assert sink.received[0].rcpt_tos == ("zoë@exämple.test",)


def test_from_settings() -> None:
    settings = load_settings(
        env="test", smtp_host="mail.example", smtp_port=587, smtp_security="starttls",
        smtp_username="u", smtp_password="hunter2-secret", smtp_connections=7, smtp_timeout_s=3,
    )  # fmt: skip
    channel = SmtpChannel.from_settings(settings)
    assert (channel.host, channel.port, channel.security, channel.connections, channel.timeout) == (
        "mail.example", 587, "starttls", 7, 3,
    )  # fmt: skip
    assert "hunter2" not in repr(channel)
    with pytest.raises(ConfigError):
        SmtpChannel("h", 25, security="ssl")  # type: ignore[arg-type]


# --- TLS and AUTH, with a throwaway certificate --------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_auth(certificate: tuple[ssl.SSLContext, ssl.SSLContext], security: Security) -> None:
    server, client = certificate
    with SmtpSink(tls_context=server, implicit_tls=security == "tls", credentials=("user", "s3cret")) as sink:
        good, bad = (
            SmtpChannel(sink.host, sink.port, security=security, username="user", password=pw, tls_context=client)
            for pw in ("s3cret", "wrong")
        )
        plain = SmtpChannel(sink.host, sink.port, security="none", timeout=2)
        assert send_all(good, envelope(1)) == ["S00000001"]
        [refused] = send_all(bad, envelope(2))
        [no_auth] = send_all(plain, envelope(3))
    assert isinstance(refused, TransientDeliveryError) and "535" in str(refused)
    assert isinstance(no_auth, TransientDeliveryError)  # a configuration problem, not the message's
    assert len(sink.received) == 1


def _aiosmtplib_payload(data: bytes) -> bytes:
    """What aiosmtplib's own `data()` would send, the reference for `prepare_data`."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: x\r\n\r\nbody\r\n",
        b"Subject: x\r\n\r\nno final newline",
        b".starts with a dot\r\n",
        b"a\r\n.line\r\n..two\r\n.\r\n",
        b"lone\nnewline\r\n",
        b"lone\rreturn\r\n",
        b"\r\n",
        b"",
    ],
)
def test_data_payload_is_what_aiosmtplib_would_send(data: bytes) -> None:
    assert prepare_data(data) == _aiosmtplib_payload(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b" ", b"=\r\n", b"\r\n."]), max_size=40))
def test_data_payload_matches_aiosmtplib_for_any_input(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert prepare_data(data) == _aiosmtplib_payload(data)


# --- PIPELINING against a scripted server ---------------------------------------------------------------------


class ScriptedServer:
    """One connection: offers PIPELINING, answers MAIL, RCPT and DATA only once all three arrived (so a
    client that waits between them hangs), one reply per packet, then records whatever follows."""

    def __init__(self, replies: tuple[bytes, bytes, bytes], *, close_after: int | None = None) -> None:
        self.replies, self.close_after = replies, close_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.after_data = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, self.listener:
            conn.settimeout(5)
            conn.sendall(b"220 scripted\r\n")
            buffer = b""
            while b"\r\n" not in buffer:
                buffer += conn.recv(4096)
            conn.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n")
            buffer = b""
            while not buffer.endswith(b"DATA\r\n"):
                buffer += conn.recv(4096)
            assert buffer.startswith(b"MAIL FROM:<bounces@epistola.test> SIZE=") and b"\r\nRCPT TO:<" in buffer
            for reply in self.replies[: self.close_after]:
                conn.sendall(reply + b"\r\n")
                time.sleep(0.05)  # separate packets: the client must not lose the later ones
            if self.close_after is not None:
                return
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    self.after_data += chunk
                    if self.after_data.endswith(b"\r\n.\r\n"):
                        conn.sendall(b"250 2.0.0 queued as Q1\r\n")
                    elif self.after_data.endswith(b"RSET\r\n") or self.after_data.endswith(b"QUIT\r\n"):
                        conn.sendall(b"250 OK\r\n")


def test_pipelined_replies_in_separate_packets() -> None:
    server = ScriptedServer((b"250 OK", b"250 OK", b"354 go ahead"))
    assert send_all(SmtpChannel("127.0.0.1", server.port, timeout=3), envelope(5)) == ["Q1"]
    server.thread.join(5)
    assert b"Message-ID: <msg-5@epistola.test>" in server.after_data


def test_a_server_that_takes_data_after_refusing_the_recipient_gets_nothing() -> None:
    server = ScriptedServer((b"250 OK", b"550 5.1.1 no such user", b"354 go ahead"))
    [result] = send_all(SmtpChannel("127.0.0.1", server.port, timeout=3), envelope())
    server.thread.join(5)
    assert isinstance(result, PermanentDeliveryError) and "550 at RCPT" in str(result)
    assert server.after_data == b""  # the connection was closed, not fed a message or an RSET


@pytest.mark.parametrize(
    ("close_after", "expected"),
    [
        (0, TransientDeliveryError),  # nothing answered: nothing can have been delivered
        (1, TransientDeliveryError),  # MAIL accepted, then gone
        (2, UncertainDeliveryError),  # MAIL and RCPT accepted, DATA never answered: as without pipelining
    ],
)
def test_a_connection_lost_during_the_pipelined_replies(close_after: int, expected: type[DeliveryError]) -> None:
    server = ScriptedServer((b"250 OK", b"250 OK", b"354 go ahead"), close_after=close_after)
    [result] = send_all(SmtpChannel("127.0.0.1", server.port, timeout=3), envelope())
    assert type(result) is expected

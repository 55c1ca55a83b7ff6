"""A lean SMTP server that accepts and discards: the stand-in for a remote relay in the delivery benchmark.

`epistola.delivery.sink.SmtpSink` (aiosmtpd) is the real peer of the tests, with failure policies and
`.eml` copies; it costs ~0.9 ms of CPU a message, as much as the sender it is meant to measure, on the
same two cores. This one speaks just the SMTP the channel uses (EHLO, MAIL, RCPT, DATA with the dot
terminator, RSET, NOOP, QUIT) in one asyncio protocol and counts what it accepted.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

_EHLO = b"250-discard\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
_END = b"\r\n.\r\n"


class _Session(asyncio.Protocol):
    accepted = 0

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.in_data = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 discard ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(_END)
                if end < 0:
                    return
                del self.buffer[: end + len(_END)]
                self.in_data = False
                _Session.accepted += 1
                self.transport.write(b"250 2.0.0 Ok: queued as D%08d\r\n" % _Session.accepted)
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end]).upper()
            del self.buffer[: end + 2]
            verb = line[:4]
            if verb == b"EHLO":
                self.transport.write(_EHLO)
            elif verb in (b"HELO", b"RSET", b"NOOP"):
                self.transport.write(b"250 OK\r\n")
            elif verb == b"MAIL":
                self.transport.write(b"250 2.1.0 OK\r\n")
            elif verb == b"RCPT":
                self.transport.write(b"250 2.1.5 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer[:0] = b"\r\n"  # the terminator may follow the DATA line directly (empty body)
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"502 5.5.2 not implemented\r\n")


def serve(ready: multiprocessing.Queue, stop: Any) -> None:  # type: ignore[type-arg]
    """Run until `stop` is set; puts the port on `ready` first and the count of accepted messages last."""

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Session, "127.0.0.1", 0)
        ready.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.close()
        ready.put(_Session.accepted)

    asyncio.run(main())

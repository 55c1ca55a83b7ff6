"""A small SMSC that speaks SMPP 3.4 (smpplib's codec) and keeps what it is sent: for tests and the demo.

It answers bind_transmitter/transceiver (checking the credentials), submit_sm (with a message id),
enquire_link and unbind; reassembles concatenated messages from their UDH; and, for a bound
transceiver that asked for it, sends a delivery receipt (deliver_sm, Appendix B text plus the
receipted_message_id TLV). `send_inbound` plays a customer texting us: a deliver_sm (split and encoded
like a real handset's message) to every bound transceiver, returning the deliver_sm_resp statuses.
A `SmppPolicy` makes it misbehave the ways SMSCs do.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from epistola.delivery.smpp import RECEIPT_ESM, encode_pdu, read_pdu
from epistola.delivery.sms import join_parts, receipt_text, split_sms


class SmsReceived(NamedTuple):
    source: str
    destination: str
    text: str
    parts: int
    message_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SmppPolicy:
    """Destinations are matched against shell-style patterns (``4860010*``)."""

    reject: tuple[str, ...] = ()  # ESME_RINVDSTADR (0x0B): permanent
    throttle_once: tuple[str, ...] = ()  # ESME_RTHROTTLED (0x58) the first time a destination is seen
    undeliverable: tuple[str, ...] = ()  # accepted, then a receipt with stat:UNDELIV
    drop_after_submit: tuple[str, ...] = ()  # keeps the message, closes the connection without answering
    receipts: bool = True


class SmppSink:
    """An in-process SMSC; use as a context manager. `received` holds whole (reassembled) messages."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, credentials: tuple[str, str] = ("epistola", "secret")
    ) -> None:
        self.host = host
        self.port = port
        self.credentials = credentials
        self.policy = SmppPolicy()
        self._lock = threading.Condition()
        self._received: list[SmsReceived] = []
        self._seen: set[str] = set()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._partial: dict[tuple[str, str, int], list[tuple[int, bytes, str]]] = defaultdict(list)
        self.receipts_sent = 0
        self.binds = 0
        self._transceivers: set[asyncio.StreamWriter] = set()
        self._answers: dict[int, asyncio.Future[int]] = {}

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="smpp-sink", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.host, self.port

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._server = None

    def __enter__(self) -> SmppSink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what arrived -------------------------------------------------------------------------------------

    @property
    def received(self) -> list[SmsReceived]:
        with self._lock:
            return list(self._received)

    @property
    def transceivers(self) -> int:
        """Sessions bound as transceivers right now (those that get customers' texts)."""
        return len(self._transceivers)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._received) >= count, timeout)

    def wait_for_receipts(self, count: int, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.receipts_sent >= count, timeout)

    def send_inbound(self, source: str, destination: str, text: str, *, timeout: float = 10.0) -> list[int]:
        """Deliver `text` from the handset `source` to each bound transceiver (redelivering is calling this
        again); the deliver_sm_resp status of every part, in order. Call it from a thread of its own."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the SMPP sink is not running")
        future = asyncio.run_coroutine_threadsafe(self._send_inbound(source, destination, text, timeout), loop)
        return future.result(timeout + 1)

    async def _send_inbound(self, source: str, destination: str, text: str, timeout: float) -> list[int]:
        parts = split_sms(text, reference=next(self._ids))
        answers: list[asyncio.Future[int]] = []
        for writer in list(self._transceivers):
            for part in parts.parts:
                sequence = next(self._ids) + 2_000_000
                answers.append(answer := asyncio.get_running_loop().create_future())
                self._answers[sequence] = answer
                writer.write(
                    encode_pdu(
                        "deliver_sm",
                        sequence,
                        source_addr_ton=1,
                        source_addr_npi=1,
                        source_addr=source.lstrip("+"),
                        destination_addr=destination,
                        esm_class=parts.esm_class,
                        data_coding=parts.data_coding,
                        short_message=part,
                    )
                )
            await writer.drain()
        return list(await asyncio.wait_for(asyncio.gather(*answers), timeout))

    # --- the protocol ---------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bound: str | None = None
        try:
            while True:
                pdu = await read_pdu(reader)
                command = str(pdu.command)
                if command in ("bind_transmitter", "bind_transceiver", "bind_receiver"):
                    ok = (_text(pdu.system_id), _text(pdu.password)) == self.credentials
                    status = 0 if ok else 0x0E  # ESME_RINVPASWD
                    writer.write(encode_pdu(f"{command}_resp", pdu.sequence, status=status, system_id="epistola-smsc"))
                    if ok:
                        bound = command
                        self.binds += 1
                        if command == "bind_transceiver":
                            self._transceivers.add(writer)
                elif command == "submit_sm":
                    if bound not in ("bind_transmitter", "bind_transceiver"):
                        writer.write(encode_pdu("submit_sm_resp", pdu.sequence, status=0x04))
                        continue
                    if not await self._submit(pdu, writer, receipts=bound == "bind_transceiver"):
                        return
                elif command == "enquire_link":
                    writer.write(encode_pdu("enquire_link_resp", pdu.sequence))
                elif command == "unbind":
                    writer.write(encode_pdu("unbind_resp", pdu.sequence))
                    await writer.drain()
                    return
                elif command.endswith("_resp"):
                    answer = self._answers.pop(pdu.sequence, None)  # else the answer to a receipt
                    if answer is not None and not answer.done():
                        answer.set_result(int(pdu.status or 0))
                    continue
                else:
                    writer.write(encode_pdu("generic_nack", pdu.sequence, status=0x03))
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._transceivers.discard(writer)
            writer.close()

    async def _submit(self, pdu: Any, writer: asyncio.StreamWriter, *, receipts: bool) -> bool:
        """Answer one submit_sm; False when the policy says to drop the connection."""
        destination = _text(pdu.destination_addr)
        policy = self.policy
        if _matches(destination, policy.reject):
            writer.write(encode_pdu("submit_sm_resp", pdu.sequence, status=0x0B))
            return True
        if _matches(destination, policy.throttle_once) and self._first_sight(destination):
            writer.write(encode_pdu("submit_sm_resp", pdu.sequence, status=0x58))
            return True
        message_id = f"M{next(self._ids):08d}"
        data = bytes(pdu.short_message or b"")
        self._keep_part(_text(pdu.source_addr), destination, int(pdu.data_coding or 0), data, message_id)
        if _matches(destination, policy.drop_after_submit):
            writer.close()
            return False
        writer.write(encode_pdu("submit_sm_resp", pdu.sequence, message_id=message_id))
        if receipts and policy.receipts and int(pdu.registered_delivery or 0) & 0x01:
            status = "UNDELIV" if _matches(destination, policy.undeliverable) else "DELIVRD"
            writer.write(
                encode_pdu(
                    "deliver_sm",
                    next(self._ids) + 1_000_000,
                    source_addr=destination,
                    destination_addr=_text(pdu.source_addr),
                    esm_class=RECEIPT_ESM,
                    short_message=receipt_text(message_id, status),
                    receipted_message_id=message_id,
                    message_state=2 if status == "DELIVRD" else 5,
                )
            )
            with self._lock:
                self.receipts_sent += 1
                self._lock.notify_all()
        return True

    def _keep_part(self, source: str, destination: str, coding: int, data: bytes, message_id: str) -> None:
        if data[:3] == b"\x05\x00\x03":
            key = (source, destination, data[3])
            parts = self._partial[key]
            parts.append((coding, data, message_id))
            if len(parts) < data[4]:
                return
            del self._partial[key]
        else:
            parts = [(coding, data, message_id)]
        _, total, text = join_parts([(c, d) for c, d, _ in parts])
        message = SmsReceived(
            source=source, destination=destination, text=text, parts=total, message_ids=tuple(m for *_, m in parts)
        )
        with self._lock:
            self._received.append(message)
            self._lock.notify_all()

    def _first_sight(self, destination: str) -> bool:
        with self._lock:
            if destination in self._seen:
                return False
            self._seen.add(destination)
            return True


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return "" if value is None else str(value)


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)

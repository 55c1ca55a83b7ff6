"""The SMS channel over SMPP 3.4: one bound session per worker, many submits in flight, delivery receipts.

smpplib's PDU codec builds and parses every PDU (so the bytes are a real implementation's, not ours);
the session itself is asyncio, because smpplib's client is a blocking socket loop that would stall the
worker's event loop. The session binds as a transceiver, so the SMSC's delivery receipts (deliver_sm)
come back on the same connection and are handed to `on_receipt`; every other deliver_sm is a text a
customer sent us (a mobile-originated message: STOP, START, a reply). Those are decoded (GSM 03.38 or
UCS-2 by data_coding, concatenated parts put together) and awaited through `on_inbound`; the
deliver_sm_resp says 0 once it returned and ESME_RX_T_APPN when it raised, so the SMSC delivers the
message again later instead of it being lost (`feedback.inbound.SmppInbound` dedupes that redelivery).

What a failure means follows the e-mail channel: nothing written yet is transient, a written submit_sm
without an answer is uncertain, a refused first part is what its status says (`sms.classify_status`),
and any failure after the first part of a long message was accepted is uncertain: resending would
give the customer the first part twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from smpplib import smpp  # type: ignore[import-untyped]

from epistola.config import Settings
from epistola.delivery.ports import Envelope
from epistola.delivery.sms import (
    MobileOriginated,
    Receipt,
    Segment,
    classify_status,
    decode_text,
    parse_receipt,
    split_sms,
    split_udh,
)
from epistola.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

logger = logging.getLogger(__name__)

RECEIPT_ESM = 0x04  # esm_class bits 2-5 = 0001: SMSC delivery receipt
MESSAGE_TYPE = 0x3C  # esm_class bits 2-5: 0 is a plain (mobile-originated) message
ESME_RX_T_APPN = 0x64  # deliver_sm_resp: a temporary failure on our side, deliver it again later
MAX_PDU = 64 * 1024
MAX_PARTIAL = 256  # concatenated inbound messages waiting for their other parts, per session

InboundHandler = Callable[[MobileOriginated], Awaitable[None]]


class _NoSequence:
    """smpplib asks its client for sequence numbers; ours are set explicitly on each PDU."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_CODEC_CLIENT = _NoSequence()


def encode_pdu(command: str, sequence: int, **fields: Any) -> bytes:
    pdu = smpp.make_pdu(command, client=_CODEC_CLIENT, **fields)
    pdu.sequence = sequence
    return bytes(pdu.generate())


def decode_pdu(data: bytes) -> Any:
    return smpp.parse_pdu(data, client=_CODEC_CLIENT)


async def read_pdu(reader: asyncio.StreamReader) -> Any:
    """The next PDU from `reader`; raises ConnectionError at end of stream or on a bad length."""
    try:
        head = await reader.readexactly(4)
        (length,) = struct.unpack(">L", head)
        if not 16 <= length <= MAX_PDU:
            raise ConnectionError(f"SMPP PDU length {length} is out of range")
        return decode_pdu(head + await reader.readexactly(length - 4))
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError("the SMPP peer closed the connection") from exc


def _address(number: str) -> tuple[int, int, str]:
    """(ton, npi, address): international E.164, or an alphanumeric sender id."""
    digits = number.lstrip("+")
    if digits.isdigit():
        return 1, 1, digits
    return 5, 0, number[:11]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return "" if value is None else str(value)


class _Session:
    """One bound connection: writes are serialised, responses are matched to requests by sequence."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_receipt: Callable[[Receipt], None],
        on_inbound: InboundHandler | None = None,
    ):
        self.reader = reader
        self.writer = writer
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self.inbound: set[asyncio.Task[None]] = set()
        self.partial: dict[tuple[str, int], dict[int, bytes]] = {}
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.sequence = 0
        self.closed = False
        self._reader_task: asyncio.Task[None] | None = None

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    def start(self) -> None:
        self._reader_task = asyncio.create_task(self._read_loop())

    async def request(self, command: str, timeout: float, **fields: Any) -> tuple[Any, bool]:
        """Send a request and wait for its response. Returns (response, written)."""
        if self.closed:
            raise ConnectionError("the SMPP session is closed")
        sequence = self.next_sequence()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[sequence] = future
        try:
            self.writer.write(encode_pdu(command, sequence, **fields))
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.pending.pop(sequence, None)
            self.closed = True
            raise _NotWritten(str(exc)) from exc
        try:
            return await asyncio.wait_for(future, timeout), True
        finally:
            self.pending.pop(sequence, None)

    async def _read_loop(self) -> None:
        try:
            while True:
                pdu = await read_pdu(self.reader)
                command = str(pdu.command)
                if command.endswith("_resp") or command == "generic_nack":
                    future = self.pending.get(pdu.sequence)
                    if future is not None and not future.done():
                        future.set_result(pdu)
                elif command == "deliver_sm" and int(pdu.esm_class or 0) & MESSAGE_TYPE == 0:
                    self._mobile_originated(pdu)
                elif command == "deliver_sm":
                    self._reply("deliver_sm_resp", pdu.sequence)
                    if int(pdu.esm_class or 0) & MESSAGE_TYPE == RECEIPT_ESM:
                        receipt = parse_receipt(bytes(pdu.short_message or b""), pdu.receipted_message_id or None)
                        if receipt is not None:
                            try:
                                self.on_receipt(receipt)
                            except Exception:
                                logger.exception("handling an SMPP delivery receipt failed")
                elif command == "enquire_link":
                    self._reply("enquire_link_resp", pdu.sequence)
                elif command == "unbind":
                    self._reply("unbind_resp", pdu.sequence)
                    break
                else:
                    self._reply("generic_nack", pdu.sequence, status=0x03)  # ESME_RINVCMDID
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the SMPP connection was lost"))
            self.writer.close()

    def _mobile_originated(self, pdu: Any) -> None:
        """Decode a customer's text and hand it over; the parts of a long one are answered as they come."""
        esm_class, coding = int(pdu.esm_class or 0), int(pdu.data_coding or 0)
        data = bytes(pdu.short_message or b"") or bytes(pdu.message_payload or b"")
        segment, body = split_udh(esm_class, data)
        if segment is None and pdu.sar_msg_ref_num is not None and int(pdu.sar_total_segments or 0) > 1:
            total, number = int(pdu.sar_total_segments), int(pdu.sar_segment_seqnum or 0)
            if 1 <= number <= total:
                segment = Segment(reference=int(pdu.sar_msg_ref_num), total=total, number=number)
        source, destination = _text(pdu.source_addr), _text(pdu.destination_addr)
        if int(pdu.source_addr_ton or 0) == 1 and source.isdigit():
            source = "+" + source
        parts = [body]
        if segment is not None and segment.total > 1:
            held = self.partial.setdefault((source, segment.reference), {})
            held[segment.number] = body
            if len(held) < segment.total:
                while len(self.partial) > MAX_PARTIAL:  # parts that never completed: forget the oldest
                    del self.partial[next(iter(self.partial))]
                self._reply("deliver_sm_resp", pdu.sequence)
                return
            del self.partial[(source, segment.reference)]
            parts = [held[n] for n in sorted(held)]
        # The content without the UDH: the concatenation reference is the SMSC's to choose again.
        fingerprint = b"\x00".join([source.encode(), destination.encode(), bytes([coding]), *parts])
        message = MobileOriginated(
            sender=source,
            recipient=destination,
            text=decode_text(coding, b"".join(parts)),
            parts=len(parts),
            fingerprint=fingerprint,
        )
        if self.on_inbound is None:
            logger.warning("an inbound SMS arrived over SMPP but nothing handles inbound SMS; it is dropped")
            self._reply("deliver_sm_resp", pdu.sequence)
            return
        task = asyncio.create_task(self._hand_over(pdu.sequence, self.on_inbound, message))
        self.inbound.add(task)
        task.add_done_callback(self.inbound.discard)

    async def _hand_over(self, sequence: int, handler: InboundHandler, message: MobileOriginated) -> None:
        try:
            await handler(message)
        except Exception:
            logger.exception("handling an inbound SMS from SMPP failed; the SMSC is asked to deliver it again")
            status = ESME_RX_T_APPN
        else:
            status = 0
        if not self.closed:
            self._reply("deliver_sm_resp", sequence, status=status)

    def _reply(self, command: str, sequence: int, **fields: Any) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write(encode_pdu(command, sequence, **fields))

    async def close(self, timeout: float) -> None:
        if self.inbound:  # let inbound messages being written finish and be answered
            await asyncio.wait(set(self.inbound), timeout=timeout)
        if not self.closed:
            with contextlib.suppress(Exception):
                await self.request("unbind", timeout)
        self.closed = True
        self.writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task


class _NotWritten(Exception):
    """The PDU never left: nothing was handed over."""


class SmppChannel:
    """`Channel` for SMS over SMPP 3.4. `on_receipt` receives delivery receipts (on the event loop);
    `on_inbound` is awaited with each text a customer sent (`feedback.inbound.SmppInbound`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        timeout: float = 10.0,
        window: int = 10,
        on_receipt: Callable[[Receipt], None] | None = None,
        on_inbound: InboundHandler | None = None,
    ) -> None:
        if len(system_id) > 15 or len(password) > 8:
            raise ConfigError("SMPP system_id is at most 15 characters and the password at most 8 (SMPP 3.4 §4.1)")
        self.host = host
        self.port = port
        self.system_id = system_id
        self._password = password
        self.system_type = system_type
        self.timeout = timeout
        self.window = max(1, window)
        self.on_receipt = on_receipt or (lambda receipt: None)
        self.on_inbound = on_inbound
        self._session: _Session | None = None
        self._lock: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_receipt: Callable[[Receipt], None] | None = None,
        on_inbound: InboundHandler | None = None,
    ) -> SmppChannel:
        password = settings.smpp_password.get_secret_value() if settings.smpp_password else ""
        return cls(
            settings.smpp_host,
            settings.smpp_port,
            system_id=settings.smpp_system_id,
            password=password,
            system_type=settings.smpp_system_type,
            timeout=settings.smpp_timeout_s,
            window=settings.smpp_window,
            on_receipt=on_receipt,
            on_inbound=on_inbound,
        )

    def __repr__(self) -> str:
        return f"SmppChannel({self.host}:{self.port}, system_id={self.system_id})"

    def _loop_state(self) -> tuple[asyncio.Lock, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None or self._slots is None:
            self._session = None  # a session opened in a loop that is gone cannot be used
            self._loop, self._lock, self._slots = loop, asyncio.Lock(), asyncio.Semaphore(self.window)
        return self._lock, self._slots

    async def _bound(self) -> _Session:
        lock, _ = self._loop_state()
        async with lock:
            if self._session is not None and not self._session.closed:
                return self._session
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
            except (OSError, TimeoutError) as exc:
                raise TransientDeliveryError(f"cannot connect to SMSC {self.host}:{self.port}: {exc}") from exc
            session = _Session(reader, writer, self.on_receipt, self.on_inbound)
            session.start()
            try:
                response, _ = await session.request(
                    "bind_transceiver",
                    self.timeout,
                    system_id=self.system_id,
                    password=self._password,
                    system_type=self.system_type,
                    interface_version=0x34,
                    addr_ton=0,
                    addr_npi=0,
                    address_range="",
                )
            except (ConnectionError, TimeoutError, _NotWritten) as exc:
                await session.close(self.timeout)
                raise TransientDeliveryError(f"SMSC {self.host}:{self.port} did not answer the bind: {exc}") from exc
            if response.status != 0:
                await session.close(self.timeout)
                raise TransientDeliveryError(
                    f"SMSC {self.host}:{self.port} refused the bind of {self.system_id!r}: status {response.status:#x}"
                )
            self._session = session
            return session

    async def send(self, envelope: Envelope) -> str:
        """Submit every part; the SMSC's message id of the first part is the provider id."""
        text = envelope.data.decode("utf-8")
        parts = split_sms(text, reference=envelope.message_id)
        source_ton, source_npi, source = _address(envelope.sender)
        dest_ton, dest_npi, destination = _address(envelope.recipient)
        if dest_ton != 1:
            raise PermanentDeliveryError(f"message {envelope.message_id}: the recipient is not a phone number")
        _, slots = self._loop_state()
        ids: list[str] = []
        async with slots:
            session = await self._bound()
            for index, part in enumerate(parts.parts):
                first = index == 0
                try:
                    response, _ = await session.request(
                        "submit_sm",
                        self.timeout,
                        service_type="",
                        source_addr_ton=source_ton,
                        source_addr_npi=source_npi,
                        source_addr=source,
                        dest_addr_ton=dest_ton,
                        dest_addr_npi=dest_npi,
                        destination_addr=destination,
                        esm_class=parts.esm_class,
                        data_coding=parts.data_coding,
                        registered_delivery=1 if first else 0,
                        short_message=part,
                    )
                except _NotWritten as exc:
                    kind: type[DeliveryError] = TransientDeliveryError if first else UncertainDeliveryError
                    raise kind(f"SMPP connection lost before part {index + 1} was sent: {exc}") from exc
                except (ConnectionError, TimeoutError) as exc:
                    raise UncertainDeliveryError(f"no answer to part {index + 1} of {len(parts.parts)}: {exc}") from exc
                if response.command == "generic_nack" or response.status != 0:
                    status = int(response.status or 0)
                    if not first:
                        raise UncertainDeliveryError(
                            f"SMSC refused part {index + 1} of {len(parts.parts)} ({status:#x}) after the first went"
                        )
                    kind = PermanentDeliveryError if response.command == "generic_nack" else classify_status(status)
                    raise kind(f"SMSC refused the message: status {status:#x}")
                ids.append(bytes(response.message_id or b"").decode("ascii", "replace"))
        return ids[0][:200] or "accepted"

    async def listen(self, stop: asyncio.Event, *, keepalive_s: float = 30.0, max_backoff_s: float = 60.0) -> None:
        """Stay bound until `stop`, so customers' texts and late receipts arrive while nothing is sent.

        An enquire_link every `keepalive_s` keeps idle SMSCs and NAT from dropping the session and finds a
        dead one; a lost or refused session is bound again with a growing pause.
        """
        backoff, down = 1.0, False
        while not stop.is_set():
            try:
                session = await self._bound()
                response, _ = await session.request("enquire_link", self.timeout)
                if response.status != 0:
                    raise ConnectionError(f"enquire_link answered with status {response.status:#x}")
                if down:
                    logger.warning("SMSC %s:%s: bound again", self.host, self.port)
                backoff, down, pause = 1.0, False, keepalive_s
            except (DeliveryError, ConnectionError, TimeoutError, _NotWritten) as exc:
                # Once per outage: a worker without an SMSC (e-mail only, development) must not fill the log.
                log = logger.debug if down else logger.warning
                log("SMSC %s:%s: %s; trying again, at most every %.0f s", self.host, self.port, exc, max_backoff_s)
                await self._drop_session()
                down, pause, backoff = True, backoff, min(backoff * 2, max_backoff_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def _drop_session(self) -> None:
        lock, _ = self._loop_state()
        async with lock:
            session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close(self.timeout)

    async def close(self) -> None:
        """Unbind, then let the receipt handler write what it still holds (a `ReceiptRecorder` does)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close(self.timeout)
        self._loop = self._lock = self._slots = None
        closer = getattr(self.on_receipt, "close", None)
        if closer is not None:
            await closer()

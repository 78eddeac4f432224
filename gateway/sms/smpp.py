"""SMPP 3.4 to the carrier's SMSC (or Jasmin): aiosmpplib's ESME behind the Transport interface."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiosmpplib import ESME, PhoneNumber, SubmitSm
from aiosmpplib.broker import SimpleBroker
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.hook import AbstractHook
from aiosmpplib.protocol import DeliverSm, SmppMessage, SubmitSmResp
from aiosmpplib.retrytimer import SimpleExponentialBackoff
from aiosmpplib.state import (
    MESSAGE_STATE,
    NPI,
    RECEIPTED_MESSAGE_ID,
    TON,
    SmppCommand,
    SmppCommandStatus,
    SmppSessionState,
)
from gsmmodem.pdu import Concatenation, decodeSmsPdu

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.config import SmppConfig
from gateway.sms.pdu import InboundPart, SubmitPdu
from gateway.sms.transport import Receiver, TransportInfo

log = logging.getLogger(__name__)

# errors a second try cannot mend: the destination or the message itself is refused
PERMANENT = {
    SmppCommandStatus.ESME_RINVDSTADR,
    SmppCommandStatus.ESME_RINVMSGLEN,
    SmppCommandStatus.ESME_RINVESMCLASS,
    SmppCommandStatus.ESME_RINVDSTTON,
}


# a receipt's final states (its text's stat:, or the message_state TLV): delivered, or not; anything
# else (ENROUTE, ACCEPTD, message_state 1 or 6) is on the way and changes nothing
DELIVERED = {"DELIVRD", "DELIVERED"}
NOT_DELIVERED = {"EXPIRED", "DELETED", "UNDELIV", "UNDELIVERABLE", "REJECTD", "REJECTED", "UNKNOWN"}
MESSAGE_STATES = {2: True, 3: False, 4: False, 5: False, 7: False, 8: False}
_ID = re.compile(r"\bid:(\S+)", re.IGNORECASE)
_STAT = re.compile(r"\bstat:(\w+)", re.IGNORECASE)


def raw_deliver(pdu: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    """A deliver_sm's esm_class, short_message and TLVs (raw values), read by hand: the library cannot
    read one whose short_message is empty (a receipt in TLVs only) and answers it generic_nack."""
    i = 16

    def cstring() -> bytes:
        nonlocal i
        end = pdu.index(0, i)
        value, i = pdu[i:end], end + 1
        return value

    cstring()  # service_type
    i += 2
    cstring()  # source_addr
    i += 2
    cstring()  # destination_addr
    esm_class = pdu[i]
    i += 3  # esm_class, protocol_id, priority_flag
    cstring()  # schedule_delivery_time
    cstring()  # validity_period
    i += 4  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    length = pdu[i]
    short_message = pdu[i + 1 : i + 1 + length]
    i += 1 + length
    tlvs = {}
    while i + 4 <= len(pdu):
        tag, size = int.from_bytes(pdu[i : i + 2], "big"), int.from_bytes(pdu[i + 2 : i + 4], "big")
        tlvs[tag] = pdu[i + 4 : i + 4 + size]
        i += 4 + size
    return esm_class, short_message, tlvs


def receipt(pdu: bytes) -> tuple[str, bool | None] | None:
    """(the SMSC's message id, delivered: True / False / None while on the way) of a delivery
    receipt, from its text or its TLVs; None when it names no message. Read here, not with the
    library's parser, which raises on a date it cannot read (and would drop the link on every try)."""
    _, short_message, tlvs = raw_deliver(pdu)
    text = short_message.decode("latin-1")
    found = _ID.search(text)
    remote_id = found.group(1) if found else tlvs.get(RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1")
    if not remote_id:
        return None
    stat = _STAT.search(text, found.end() if found else 0)  # after the id, which may hold anything
    if stat:
        word = stat.group(1).upper()
        return remote_id, True if word in DELIVERED else False if word in NOT_DELIVERED else None
    state = tlvs.get(MESSAGE_STATE)
    return remote_id, MESSAGE_STATES.get(state[0]) if state else None


def _is_receipt(esm_class: int) -> bool:
    return (esm_class & 0b00111100) >> 2 == 1


def _dcs(pdu_hex: str) -> int:
    """TP-DCS of an SMS-SUBMIT (after SCA, first octet, MR, destination and PID)."""
    i = 2 + 2 * int(pdu_hex[0:2], 16) + 4
    digits = int(pdu_hex[i : i + 2], 16)
    i += 4 + 2 * ((digits + 1) // 2) + 2
    return int(pdu_hex[i : i + 2], 16)


def submit_sm(pdu: SubmitPdu, source: str, log_id: str) -> SubmitSm:
    """The part our encoder made for a modem, as one submit_sm: the same UDH (concatenation), the text
    in UCS-2 (data_coding 8) or the GSM default alphabet, one septet a byte (data_coding 0)."""
    if pdu.part is not None:  # our UCS-2 encoder kept what it encoded: no need to decode it again
        number, text, udh = pdu.part
        ucs2 = True
    else:
        decoded = decodeSmsPdu(pdu.hex)
        number = str(decoded["number"])
        text = str(decoded.get("text", ""))
        ucs2 = (_dcs(pdu.hex) & 0x0C) == 0x08
        udh = b""
        for ie in decoded.get("udh") or []:
            if isinstance(ie, Concatenation):
                udh = bytes([5, 0, 3, ie.reference % 256, ie.parts, ie.number])
    message = SubmitSm(
        short_message=text or " ",
        source=PhoneNumber(source, TON.ALPHANUMERIC if not source.lstrip("+").isdigit() else TON.INTERNATIONAL,
                           NPI.UNKNOWN if not source.lstrip("+").isdigit() else NPI.ISDN),
        destination=PhoneNumber(number.lstrip("+"), TON.INTERNATIONAL, NPI.ISDN),
        esm_class=0x40 if udh else 0,
        registered_delivery=1,
        encoding="ucs2" if ucs2 else "gsm0338",
        log_id=log_id,
    )  # fmt: skip
    payload = text.encode("utf-16-be", "surrogatepass") if ucs2 else message.smpp_encode(text)
    message.set_encoded_message(udh + payload)  # exactly this part: the library splits nothing
    return message


class _Broker(SimpleBroker):  # type: ignore[misc]
    """The library's in-memory queue, which it keeps across a reconnect: a submit the outbox has
    already given up on (and will send again) is dropped here instead of going out twice."""

    def __init__(self) -> None:
        super().__init__(maxsize=100_000)
        self.abandoned: set[str] = set()

    async def dequeue(self) -> SmppMessage:
        while True:
            message = await self.queue.get()
            log_id = getattr(message, "log_id", "")
            if log_id in self.abandoned:
                self.abandoned.discard(log_id)
                continue
            return message


class _Unreadable(SmppMessage):  # type: ignore[misc]
    """A deliver_sm the library does not parse (a receipt, or one it cannot read): acknowledged all
    the same (the SMSC would resend it for ever), and handed to the hook as its PDU."""

    def __init__(self) -> None:
        pass

    @property
    def smpp_command(self) -> SmppCommand:
        return SmppCommand.DELIVER_SM


_UNREADABLE = _Unreadable()
_RECEIPT = _Unreadable()  # a receipt, read by the hook from the PDU


class _Esme(ESME):  # type: ignore[misc]
    """aiosmpplib 0.7.4 drops its socket without closing it when the link is lost, and at stop only
    writes EOF: every socket it opened is kept here and closed before the next connect and at close."""

    def __init__(self, lost: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lost = lost
        self.writers: list[asyncio.StreamWriter] = []

    async def _handle_request(self, pdu: bytes, header: Any) -> SmppMessage | None:
        # The library parses a receipt's dates and raises on one it cannot read: that would end the
        # receiver, drop the link, and the SMSC would send the same receipt again, for ever; and it
        # answers generic_nack to a receipt in TLVs only. Receipts are read by the hook (receipt());
        # here each is only acknowledged.
        if header.smpp_command == SmppCommand.DELIVER_SM:
            try:
                if _is_receipt(raw_deliver(pdu)[0]):
                    return _RECEIPT
            except (ValueError, IndexError):
                pass  # the library tells what it cannot read
        try:
            return await super()._handle_request(pdu, header)
        except Exception as e:
            log.error("SMPP: a %s the library could not read (%s): %s", header.smpp_command.name, e, pdu.hex())
            try:
                return DeliverSm.from_pdu(pdu, header, "gsm0338", None)
            except Exception:
                return _UNREADABLE

    async def connect(self) -> None:
        if self.writers:
            self.lost()  # a new connection: what went out on the last one will never be answered
        self.close_sockets()
        try:
            await super().connect()
        finally:
            if self._writer is not None and self._writer not in self.writers:
                self.writers.append(self._writer)

    def close_sockets(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()


class _Correlator(SimpleCorrelator):  # type: ignore[misc]
    """aiosmpplib's correlator scans every submit of the last 3 days on each PDU (quadratic in a
    batch: 20,000 parts made it the gateway's main cost); here at most once every 5 s, and submits
    are not kept for receipts: those never reach it (read from the PDU, matched in SQLite)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, max_ttl_delivery=60.0)
        self._swept = 0.0

    async def put_delivery(self, smsc_message_id: str, submit_sm: SubmitSm) -> None:
        return None  # receipts are matched by message id in SQLite, never through the library

    async def _remove_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept >= 5.0:
            self._swept = now
            await super()._remove_expired()


class _Hook(AbstractHook):  # type: ignore[misc]  # the library ships no types
    def __init__(self, transport: SmppTransport) -> None:
        self.transport = transport

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm):
            self.transport._written.add(smpp_message.log_id)

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        await self.transport._received(smpp_message, pdu)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm):
            self.transport._resolve(smpp_message.log_id, ModemUnavailable(f"SMPP: {error}"))


class SmppTransport:
    """One SMPP transceiver bind. A part is handed to the library's queue and waited for until its
    submit_sm_resp (the message id) or an error; a deliver_sm is a receipt (matched by message id) or a
    resident's SMS, which goes to the inbox part by part, persisted before the SMSC hears it was taken."""

    def __init__(self, config: SmppConfig, on_change: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.on_change = on_change
        self.info = TransportInfo(manufacturer="SMPP", model=f"{config.host}:{config.port}", operator=None)
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._written: set[str] = set()  # submits on the wire, not answered yet
        self._connected = asyncio.Event()
        self._receiver: Receiver | None = None
        self._esme: _Esme | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._broker = _Broker()

    @property
    def alive(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        c = self.config
        self._esme = _Esme(
            lost=lambda: self._give_up("SMPP: the link to the SMSC dropped", only_written=True),
            smsc_host=c.host, smsc_port=c.port, system_id=c.system_id, password=c.password,
            enquire_link_interval=float(c.enquire_link), hook=_Hook(self), broker=self._broker,
            log_level=logging.WARNING, socket_timeout=float(c.submit_timeout),
            correlator=_Correlator(c.system_id or "loa"),
            retry_timer=SimpleExponentialBackoff(min_delay=max(1, int(c.reconnect_min * 1000))),
        )  # fmt: skip
        self._tasks = [
            asyncio.create_task(self._esme.start(), name="smpp-esme"),
            asyncio.create_task(self._watch(), name="smpp-watch"),
        ]

    async def _watch(self) -> None:
        """The bind's state as the console and the outbox see it."""
        while True:
            bound = self._esme is not None and self._esme.session_state == SmppSessionState.BOUND_TRX
            if bound != self.info.connected:
                self.info.connected = bound
                log.info("SMPP %s %s", self.info.model, "bound" if bound else "not bound")
                self.on_change()
            if bound:
                self._connected.set()
            else:
                self._connected.clear()
                self._give_up("SMPP: the link to the SMSC dropped")
            await asyncio.sleep(0.2)

    def _give_up(self, why: str, only_written: bool = False) -> None:
        """Submits still waiting fail at once (the outbox sends them again, through this link when
        it is back or another transport): those on the wire when the link dropped, or (the link is
        down) every one, a submit not yet written then being dropped from the library's queue."""
        for log_id, fut in list(self._pending.items()):
            if fut.done() or (only_written and log_id not in self._written):
                continue
            if log_id not in self._written:
                self._broker.abandoned.add(log_id)
            self._written.discard(log_id)
            fut.set_exception(ModemUnavailable(why))

    async def close(self) -> None:
        if self._esme is not None:
            # aiosmpplib 0.7.4 unbinds and writes EOF but never closes its socket: closed here
            writers = list(self._esme.writers)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._esme.stop()
            self._esme.close_sockets()
            for writer in writers:
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ModemUnavailable("SMPP closed"))

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def send_pdu(self, pdu: SubmitPdu) -> int | str:
        log_id = uuid.uuid4().hex
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[log_id] = fut
        try:
            await self._broker.enqueue(submit_sm(pdu, self.config.source_addr, log_id))
            async with asyncio.timeout(self.config.submit_timeout):
                return await fut
        except TimeoutError:
            raise ModemUnavailable(f"SMPP: no submit_sm_resp in {self.config.submit_timeout:.0f} s") from None
        finally:
            if not fut.done():  # timed out or cancelled: if it has not gone out yet, it never will
                self._broker.abandoned.add(log_id)
            self._written.discard(log_id)
            self._pending.pop(log_id, None)

    def _resolve(self, log_id: str, result: str | Exception) -> None:
        self._written.discard(log_id)
        fut = self._pending.get(log_id)
        if fut is None or fut.done():
            return
        if isinstance(result, Exception):
            fut.set_exception(result)
        else:
            fut.set_result(result)

    async def _received(self, message: SmppMessage | None, pdu: bytes) -> None:
        if isinstance(message, SubmitSmResp):
            status = message.command_status
            if status == SmppCommandStatus.ESME_ROK:
                self._resolve(message.log_id, message.message_id)
            elif status in (SmppCommandStatus.ESME_RTHROTTLED, SmppCommandStatus.ESME_RMSGQFUL):
                # the SMSC asks to slow down: not the message's fault (the library slows its sending)
                self._resolve(message.log_id, ModemUnavailable(f"SMPP {status.name}: the SMSC asks to slow down"))
            else:
                error = ModemError(f"SMPP {status.name}", transient=status not in PERMANENT)
                self._resolve(message.log_id, error)
            return
        if len(pdu) < 16 or int.from_bytes(pdu[4:8], "big") != SmppCommand.DELIVER_SM:
            return
        assert self._receiver is not None
        if message is _RECEIPT:
            found = receipt(pdu)
            if found is None:
                log.warning("SMPP: a receipt that names no message: %s", pdu.hex())
            elif found[1] is not None:
                await self._receiver.handle_receipt(found[0], found[1])
            return
        # parsed again from the PDU itself: the library keeps the parts of a long SMS in memory and
        # hands only the whole; here each part is stored (and survives a crash) before it is acked
        try:
            deliver = DeliverSm.from_pdu(pdu, SmppMessage.parse_header(pdu[:16]), "gsm0338", None)
        except Exception as e:
            log.error("SMPP: a deliver_sm that cannot be read was acknowledged and dropped (%s): %s", e, pdu.hex())
            return
        if deliver.is_receipt():
            return  # read above
        sender = deliver.source.number
        # source_addr_ton 5: a name the sender chose (any bulk route lets a customer pick "0912000001")
        alphanumeric = deliver.source.ton == TON.ALPHANUMERIC
        if not alphanumeric and (
            deliver.source.ton == TON.INTERNATIONAL or (sender.isdigit() and sender.startswith("84"))
        ):
            sender = "+" + sender
        text = deliver.short_message or deliver.message_payload
        concat = None
        if deliver.is_segmented():
            ref, seq, total = deliver.get_segmentation_data()
            concat = (ref, total, seq)
        digest = hashlib.sha256(pdu[16:]).hexdigest()  # the body: a resent deliver_sm is the same SMS
        units = text.encode("utf-16-be", "surrogatepass")
        await self._receiver.handle_part(InboundPart(sender, units, None, concat, digest, alphanumeric))

    async def ussd(self, code: str) -> str:
        raise ModemError("SMPP không gửi được USSD (USSD needs the modem)", transient=False)

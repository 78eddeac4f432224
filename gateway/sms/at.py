"""The real modem: our own asyncio AT conversation over a serial port (one reader, one lock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial_asyncio_fast
from gsmmodem.pdu import decodeGsm7, unpackSeptets

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.config import ModemConfig
from gateway.sms.pdu import SubmitPdu
from gateway.sms.transport import Receiver, TransportInfo

log = logging.getLogger(__name__)
# a submit silent for this many times what submits usually take on this modem means a hung modem
SUBMIT_MARGIN = 4.0

FINAL_OK = ("OK",)
FINAL_ERROR = ("ERROR", "+CMS ERROR:", "+CME ERROR:", "COMMAND NOT SUPPORT", "NO CARRIER")
# Lines a modem sends on its own. A response never starts with one of these, so they never mix.
URC_PREFIXES = (
    "+CMTI:",
    "+CDSI:",
    "+CDS:",
    "+CMT:",
    "+CBM:",
    "+CUSD:",
    "^RSSI:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^HCSQ:",
    "^DSFLOWRPT:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "Call Ready",
    "SMS Ready",
    "+CPIN: NOT READY",
)
# These two announce a PDU on the next line.
URC_WITH_PDU = ("+CDS:", "+CMT:")
_INDEX = re.compile(r'^\+C(?:MTI|DSI):\s*"?(\w+)"?\s*,\s*(\d+)')
_CMGS = re.compile(r"^\+CMGS:\s*(\d+)")
_CSQ = re.compile(r"^\+CSQ:\s*(\d+)")
_RSSI = re.compile(r"^\^RSSI:\s*(\d+)")
_COPS = re.compile(r'^\+COPS:\s*\d+(?:\s*,\s*\d+\s*,\s*"([^"]*)")?')
_CSCA = re.compile(r'^\+CSCA:\s*"([^"]*)"')
_CUSD = re.compile(r'^\+CUSD:\s*(\d+)(?:\s*,\s*"([^"]*)"(?:\s*,\s*(\d+))?)?')
_CODE = re.compile(r"(\d+)")

# +CMS ERROR codes after which sending the same PDU again cannot help (3GPP TS 27.005 §3.2.5,
# TS 24.011 E-2): unassigned number, barred, invalid PDU, SIM refused.
PERMANENT_CMS = frozenset({1, 8, 10, 21, 29, 96, 304, 305})


@dataclass
class _Pending:
    command: str
    final: asyncio.Future[tuple[str, list[str]]]
    prompt: asyncio.Future[None] | None = None
    lines: list[str] = field(default_factory=list)


def decode_ussd(text: str, dcs: int, packed: bool) -> str:
    """Decode a +CUSD string by its data coding scheme (3GPP TS 23.038)."""
    is_hex = bool(re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text))
    ucs2 = dcs == 72 or (dcs & 0xF0 in (0x40, 0x50, 0x60, 0x70) and dcs & 0x0C == 0x08) or dcs == 0x11
    if ucs2 and is_hex:
        return bytes.fromhex(text).decode("utf-16-be", "replace")
    if packed and is_hex:
        septets = unpackSeptets(bytearray(bytes.fromhex(text)))
        return str(decodeGsm7(septets)).rstrip("\r\x00@")
    return text


def encode_ussd_packed(code: str) -> str:
    from gsmmodem.pdu import encodeGsm7, packSeptets

    return bytes(packSeptets(encodeGsm7(code))).hex().upper()


class ATModem:
    """A GSM modem on a serial port. Commands are serialised by one lock; one task reads the port."""

    def __init__(
        self,
        config: ModemConfig,
        *,
        port: str | Callable[[], str] | None = None,
        emulated: bool = False,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        # a callable port is read at each open: the built-in emulator's pty exists only once started
        self._port = config.port if port is None else port
        self.config = config
        self.info = TransportInfo(emulated=emulated)
        self._receiver: Receiver | None = None
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._urcs: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._ussd: asyncio.Future[str] | None = None
        self._pdu_urc: str | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_change = on_change
        self._submit_avg: float | None = None  # seconds an answered AT+CMGS took, smoothed

    @property
    def huawei(self) -> bool:
        return "huawei" in (self.info.manufacturer or "").lower()

    @property
    def port(self) -> str:
        return self._port() if callable(self._port) else self._port

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._supervisor = asyncio.create_task(self._supervise(), name="modem-supervisor")

    async def close(self) -> None:
        if self._supervisor:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._close_port()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # ---- connection lifecycle ------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = self.config.reconnect_min
        while True:
            try:
                await self._open()
                await self._initialise()
                backoff = self.config.reconnect_min
                self.info.connected = True
                self.info.last_error = None
                self._connected.set()
                self.on_change()
                log.info(
                    "modem ready on %s: %s %s, operator %s, signal %s%s",
                    self.port,
                    self.info.manufacturer,
                    self.info.model,
                    self.info.operator,
                    self.info.signal,
                    " (emulated)" if self.info.emulated else "",
                )
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.info.last_error = str(e) or type(e).__name__
                log.warning("modem on %s unavailable: %s", self.port, self.info.last_error)
            await self._close_port()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.reconnect_max)

    async def _open(self) -> None:
        self._lost.clear()
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=self.port, baudrate=self.config.baudrate)
        self._writer = writer
        self._spawn(self._read_loop(reader), "modem-reader")
        self._spawn(self._urc_loop(), "modem-urc")

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_port(self) -> None:
        was_connected = self.info.connected
        self._connected.clear()
        self.info.connected = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_pending(ModemUnavailable("modem port closed"))
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._urcs = asyncio.Queue()
        self._pdu_urc = None
        if was_connected:
            self.on_change()

    def _mark_lost(self, why: str) -> None:
        if not self._lost.is_set():
            log.warning("modem lost: %s", why)
            self.info.last_error = why
            self.info.connected = False
            self._connected.clear()
            self._lost.set()
            self._fail_pending(ModemUnavailable(why))
            self.on_change()

    def _fail_pending(self, exc: Exception) -> None:
        p = self._pending
        if p is not None:
            for fut in (p.final, p.prompt):
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
        if self._ussd is not None and not self._ussd.done():
            self._ussd.set_exception(exc)

    async def _initialise(self) -> None:
        # ESC aborts a PDU a previous run left half-typed after "> "; the modem would otherwise
        # swallow our first commands as PDU text until a Ctrl-Z.
        assert self._writer is not None
        self._writer.write(b"\x1b\r")
        for _ in range(3):
            self._lost.clear()
            try:
                await self.command("AT", timeout=2.0)
                break
            except ModemError:
                continue
        else:
            raise ModemUnavailable(f"no answer to AT on {self.port}")
        self._lost.clear()
        await self.command("ATE0")
        await self.command("AT+CMEE=1")
        cpin = " ".join(await self.command("AT+CPIN?"))
        if "SIM PIN" in cpin:
            if not self.config.pin:
                raise ModemError("SIM asks for a PIN: set [modem] pin", transient=False)
            await self.command(f'AT+CPIN="{self.config.pin}"')
        elif "READY" not in cpin:
            raise ModemError(f"SIM not ready: {cpin or 'no answer'}")
        self.info.manufacturer = _first(await self.command("AT+CGMI"))
        self.info.model = _first(await self.command("AT+CGMM"))
        if self.huawei:
            # Huawei sticks chatter ^RSSI/^BOOT lines every few seconds unless told not to
            await self._optional("AT^CURC=0")
        await self.command("AT+CMGF=0")
        try:
            await self.command("AT+CNMI=2,1,0,2,0")
        except ModemError:
            # SIM800 refuses ds=2; with ds=1 its reports arrive as "+CDS: <len>" and a PDU line
            await self.command("AT+CNMI=2,1,0,1,0")
        if self.config.smsc:
            await self.command(f'AT+CSCA="{self.config.smsc}",145')
        self.info.smsc = _match(_CSCA, await self._optional("AT+CSCA?"))
        await self._optional("AT+COPS=3,0")
        self.info.operator = _match(_COPS, await self._optional("AT+COPS?"))
        await self._poll_signal()

    async def _optional(self, cmd: str) -> list[str]:
        try:
            return await self.command(cmd)
        except ModemUnavailable:
            raise
        except ModemError as e:
            log.info("modem refused optional %s: %s", cmd, e)
            return []

    async def _poll_signal(self) -> None:
        rssi = _match(_CSQ, await self._optional("AT+CSQ"))
        if rssi is not None:
            self.info.signal = None if int(rssi) == 99 else int(rssi)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            if loop.time() >= next_sweep:
                await self._sweep()
                next_sweep = loop.time() + self.config.sweep_interval
            timeout = min(self.config.poll_interval, max(0.0, next_sweep - loop.time()))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel at shutdown
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._lost.wait()
            if self._lost.is_set():
                raise ModemUnavailable(self.info.last_error or "modem lost")
            await self._poll_signal()

    # ---- the reader ------------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        try:
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    self._mark_lost(f"{self.port} closed (unplugged?)")
                    return
                buf = self._parse(buf + chunk)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._mark_lost(f"{self.port} read failed: {e}")

    def _parse(self, buf: bytes) -> bytes:
        while True:
            stripped = buf.lstrip(b"\r\n")
            if stripped.startswith(b"> ") or stripped == b">":
                # the CMGS prompt has no line end; ">" alone may be the first half of it
                if stripped == b">":
                    return buf
                self._on_prompt()
                buf = stripped[2:]
                continue
            end = stripped.find(b"\n")
            cr = stripped.find(b"\r")
            if end < 0 and cr < 0:
                return stripped
            cut = min(i for i in (end, cr) if i >= 0)
            raw, buf = stripped[:cut], stripped[cut + 1 :]
            # a modem is not obliged to speak UTF-8; a stray byte must not kill the reader
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._on_line(line)

    def _on_prompt(self) -> None:
        p = self._pending
        if p is not None and p.prompt is not None and not p.prompt.done():
            p.prompt.set_result(None)
        else:
            log.debug("prompt with no CMGS waiting")

    def _on_line(self, line: str) -> None:
        if self._pdu_urc is not None:
            head, self._pdu_urc = self._pdu_urc, None
            self._urcs.put_nowait((head, line))
            return
        if line.startswith(URC_WITH_PDU):
            self._pdu_urc = line
            return
        if line.startswith(URC_PREFIXES):
            self._urcs.put_nowait((line, None))
            return
        p = self._pending
        if p is None:
            log.debug("modem said %r with no command waiting", line)
            return
        if line == p.command:  # echo, before ATE0 took effect
            return
        if line in FINAL_OK or line.startswith(FINAL_ERROR):
            if not p.final.done():
                p.final.set_result((line, p.lines))
            return
        p.lines.append(line)

    # ---- commands --------------------------------------------------------------------------------

    async def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        async with self._lock:
            return await self._exchange(cmd, timeout or self.config.command_timeout)

    async def _exchange(
        self, cmd: str, timeout: float, *, body: str | None = None, body_timeout: float = 0
    ) -> list[str]:
        if self._writer is None or self._lost.is_set():
            raise ModemUnavailable("modem not connected")
        loop = asyncio.get_running_loop()
        p = _Pending(cmd, loop.create_future(), loop.create_future() if body is not None else None)
        self._pending = p
        try:
            self._writer.write(cmd.encode() + b"\r")
            if p.prompt is not None and body is not None:
                await self._await_first(p, timeout, cmd)
                if p.final.done():  # an error instead of the prompt
                    return _check(cmd, *p.final.result())
                self._writer.write(body.encode() + b"\x1a")
                timeout = body_timeout
            final, lines = await self._await(p.final, timeout, cmd)
            return _check(cmd, final, lines)
        finally:
            self._pending = None
            for fut in (p.final, p.prompt):
                if fut is None:
                    continue
                if fut.done() and not fut.cancelled():
                    fut.exception()  # retrieved: a lost modem fails futures nobody awaits any more
                fut.cancel()

    async def _await(
        self, fut: asyncio.Future[tuple[str, list[str]]], timeout: float, cmd: str
    ) -> tuple[str, list[str]]:
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            self._mark_lost(f"no answer to {cmd} in {timeout:g} s")
            raise ModemUnavailable(f"no answer to {cmd}") from None

    async def _await_first(self, p: _Pending, timeout: float, cmd: str) -> None:
        assert p.prompt is not None
        waiting: set[asyncio.Future[Any]] = {p.prompt, p.final}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when="FIRST_COMPLETED")
        if not done:
            if self._writer is not None:
                self._writer.write(b"\x1b")
            self._mark_lost(f"no answer (no > prompt) to {cmd} in {timeout:g} s")
            raise ModemUnavailable(f"no answer (no > prompt) to {cmd}")
        for fut in done:
            exc = fut.exception()
            if exc is not None:
                raise exc

    def submit_timeout(self, pdu: SubmitPdu) -> tuple[float, float]:
        """(expected, timeout) for one submit: the serial transfer of this PDU plus what submits
        have taken on this modem lately; a modem silent for SUBMIT_MARGIN times that is hung.
        Until a submit has been measured, `send_timeout`; never less than `command_timeout`."""
        serial = (len(pdu.hex) + 16) * 10 / self.config.baudrate
        if self._submit_avg is None:
            return self.config.send_timeout, self.config.send_timeout
        expected = serial + self._submit_avg
        timeout = min(self.config.send_timeout, max(self.config.command_timeout, SUBMIT_MARGIN * expected))
        return expected, timeout

    async def send_pdu(self, pdu: SubmitPdu) -> int:
        async with self._lock:
            expected, timeout = self.submit_timeout(pdu)
            info = self.info
            info.busy_with, info.busy_since, info.busy_expected = "AT+CMGS", time.monotonic(), expected
            # /healthz turns "degraded" the moment the submit is overdue: tell the waiters then
            overdue = asyncio.get_running_loop().call_later(expected, self.on_change)
            try:
                lines = await self._exchange(
                    f"AT+CMGS={pdu.tpdu_length}", self.config.command_timeout, body=pdu.hex, body_timeout=timeout
                )
            finally:
                overdue.cancel()
                took = time.monotonic() - info.busy_since
                info.busy_with = None
            self._submit_avg = took if self._submit_avg is None else 0.8 * self._submit_avg + 0.2 * took
        ref = _match(_CMGS, lines)
        if ref is None:
            raise ModemError(f"no message reference in {lines!r}")
        return int(ref)

    async def ussd(self, code: str) -> str:
        loop = asyncio.get_running_loop()
        async with self._lock:
            # after a UCS-2 session some modems keep CSCS="UCS2" and then garble USSD
            await self._exchange('AT+CSCS="GSM"', self.config.command_timeout)
            self._ussd = loop.create_future()
            arg = encode_ussd_packed(code) if self.huawei else code
            try:
                await self._exchange(f'AT+CUSD=1,"{arg}",15', self.config.command_timeout)
                async with asyncio.timeout(self.config.ussd_timeout):
                    line = await self._ussd
            except TimeoutError:
                raise ModemError(f"no USSD answer to {code}") from None
            finally:
                self._ussd = None
        m = _CUSD.match(line)
        if m is None:
            raise ModemError(f"unreadable USSD answer {line!r}")
        status, text, dcs = int(m.group(1)), m.group(2), int(m.group(3) or 15)
        if status in (2, 4, 5) or text is None:
            raise ModemError(f"USSD {code} ended by the network (status {status})")
        return decode_ussd(text, dcs, packed=self.huawei)

    # ---- what the modem tells us on its own --------------------------------------------------------

    async def _urc_loop(self) -> None:
        while True:
            line, pdu = await self._urcs.get()
            try:
                await self._on_urc(line, pdu)
            except asyncio.CancelledError:
                raise
            except ModemUnavailable:
                log.info("stored message left for the next sweep: modem unavailable")
            except Exception:
                log.exception("failed to handle %r", line)

    async def _on_urc(self, line: str, pdu: str | None) -> None:
        if pdu is not None:
            # +CMT / +CDS: delivered straight to us, nothing stored on the modem to delete
            await self._deliver(pdu)
            return
        if m := _INDEX.match(line):
            await self._read_stored(m.group(1), int(m.group(2)))
        elif m := _RSSI.match(line):
            rssi = int(m.group(1))
            self.info.signal = None if rssi == 99 else rssi
        elif line.startswith("+CUSD:"):
            if self._ussd is not None and not self._ussd.done():
                self._ussd.set_result(line)
        else:
            log.debug("ignored %r", line)

    async def _deliver(self, pdu: str) -> None:
        if self._receiver is None:
            raise RuntimeError("the modem was not started with a receiver")
        await self._receiver.handle_pdu(pdu)

    async def _read_stored(self, memory: str, index: int) -> None:
        # Read, persist and delete under one hold of the lock: indexes are reused at once, so a
        # delete that runs after another reader's would remove a new, unread message.
        async with self._lock:
            lines = await self._exchange(f"AT+CMGR={index}", self.config.command_timeout)
            pdus = [x for x in lines if not x.startswith("+CMGR")]
            if not pdus:
                return
            await self._deliver(pdus[-1])
            await self._exchange(f"AT+CMGD={index}", self.config.command_timeout)

    async def _sweep(self) -> None:
        """Read whatever the modem holds (missed notifications, messages from before a restart)."""
        lines = await self.command("AT+CMGL=4")
        indexes = [int(m.group(1)) for x in lines if x.startswith("+CMGL:") and (m := _CODE.search(x))]
        for index in indexes:
            await self._read_stored("SM", index)
        if indexes:
            log.info("sweep found %d stored message(s)", len(indexes))


def _check(cmd: str, final: str, lines: list[str]) -> list[str]:
    if final in FINAL_OK:
        return lines
    m = _CODE.search(final)
    code = int(m.group(1)) if m else None
    permanent = final.startswith("+CMS ERROR:") and code in PERMANENT_CMS
    raise ModemError(f"{cmd.split('=')[0]} → {final}", code=code, transient=not permanent)


def _first(lines: list[str]) -> str | None:
    return lines[0].strip() if lines else None


def _match(pattern: re.Pattern[str], lines: list[str]) -> str | None:
    for line in lines:
        m = pattern.match(line)
        if m:
            return m.group(1)
    return None

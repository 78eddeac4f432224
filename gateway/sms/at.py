"""The real modem: our own asyncio AT conversation over a serial port (one reader, one lock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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
# A modem that restarted says one of these, whenever it happens, even in the middle of an answer;
# a line starting "+CPIN:" or "+CFUN:" is the answer only when AT+CPIN? / AT+CFUN? is waiting.
BOOT_LINES = ("RDY", "+CFUN:", "+CPIN:", "Call Ready", "SMS Ready", "+PBREADY", "+CREG:")
RESTARTED = ("RDY", "+CFUN: 1", "+PBREADY", "Call Ready", "SMS Ready", "+CPIN: READY")
# what a modem says when its SMS memory is full (it stops taking SMS until one is deleted)
MEMORY_FULL = ("^SMMEMFULL", '+CIEV: "SMSFULL"', '+CIEV: "MEMFULL"', "+CMS ERROR: 322")
READS = 3  # an SMS whose PDU line is not readable is read again this often before it is set aside
QUIET = 0.3  # seconds without a byte from the modem: whatever it had to say is said
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}
# +CME ERROR codes at start that mean "wait and ask again": SIM busy, device busy
BUSY = frozenset({14, 515})
# SIM states that no retry will change: a person must act
SIM_STUCK = {"SIM PUK": "SIM bị khoá, cần mã PUK (SIM PUK required)", "SIM PIN2": "SIM cần PIN2 (SIM PIN2)",
             "SIM PUK2": "SIM cần PUK2 (SIM PUK2)", "PH-SIM PIN": "máy khoá SIM (PH-SIM PIN)"}  # fmt: skip
_INDEX = re.compile(r'^\+C(?:MTI|DSI):\s*"?(\w+)"?\s*,\s*(\d+)')
_CCLK = re.compile(r'^\+CCLK:\s*"(\d{2})/(\d{2})/(\d{2}),(\d{2}):(\d{2}):(\d{2})([+-]\d{1,2})?"')
_CREG = re.compile(r"^\+CREG:\s*(?:\d+\s*,\s*)?(\d+)")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
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
    # Wavecom answers AT+CPIN? without OK: the answer line alone ends it, a little later
    answer_ends: str | None = None


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
        clock: Callable[[], float] = time.time,
        on_back: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        # a callable port is read at each open: the built-in emulator's pty exists only once started
        self._port = config.port if port is None else port
        self._clock = clock  # the app's clock, which the network's time is compared with
        self._on_back = on_back  # told (an SMS to the maintainers) when a power cycle brought it back
        self._failures = 0
        self._cycled = False
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
        self._rx = asyncio.Event()  # set whenever an answer-like line (not a URC) arrives
        self._registered = asyncio.Event()
        self._restarted = asyncio.Event()
        self._sweep_now = asyncio.Event()
        self._closing = asyncio.Event()
        self._ready = asyncio.Event()  # set up (PDU mode, memories): notifications can be acted on
        self._usual = ""  # the memory read and deleted from between notifications ("" = none known)
        self._mem1 = ""  # the read/delete memory selected now
        self._read_memories: list[str] = []  # every memory a sweep reads
        self._ussd_text = False  # Huawei E1752: USSD as plain text after AT^USSDMODE=0

    @property
    def huawei(self) -> bool:
        return "huawei" in (self.info.manufacturer or "").lower()

    @property
    def port(self) -> str:
        return self._port() if callable(self._port) else self._port

    @property
    def alive(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._supervisor = asyncio.create_task(self._supervise(), name="modem-supervisor")

    async def close(self) -> None:
        self._closing.set()
        if self._supervisor:
            self._supervisor.cancel()
            # bounded: a stop must never hang on a supervisor that missed its cancel
            await asyncio.wait({self._supervisor}, timeout=5.0)
        await self._close_port()

    async def wait_connected(self) -> None:
        """Connected and registered on a network: a modem searching for the network would only
        burn every message's tries."""
        await self._connected.wait()
        await self._registered.wait()

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
                self._failures = 0
                if self._cycled:
                    self._cycled = False
                    if self._on_back is not None:
                        text = f"Loa: modem đã hoạt động lại sau khi tắt/bật nguồn USB ({self.port})."
                        self._spawn(self._on_back(text), "modem-back")
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
                if isinstance(e, ModemError) and not e.transient:
                    backoff = self.config.reconnect_max  # a person must act: do not hammer the SIM
                self.on_change()
                self._failures += 1
            await self._close_port()
            if self.config.power_cycle and self._failures >= self.config.power_cycle_after:
                await self._power_cycle()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._closing.wait()
            if self._closing.is_set():
                return
            backoff = min(backoff * 2, self.config.reconnect_max)

    async def _power_cycle(self) -> None:
        """USB power off and on (uhubctl): what a person would do to a stick that hangs for good."""
        self._failures = 0
        log.warning("modem on %s failed %d connects in a row: power cycle with %s", self.port,
                    self.config.power_cycle_after, " ".join(self.config.power_cycle))  # fmt: skip
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.config.power_cycle, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            async with asyncio.timeout(60):
                _, err = await proc.communicate()
        except (OSError, TimeoutError) as e:
            log.error("power cycle failed: %s", e)
            return
        if proc.returncode != 0:
            log.error("power cycle failed (%s): %s", proc.returncode, err.decode("utf-8", "replace")[-300:])
            return
        self._cycled = True

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
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, not `suppress(CancelledError): await task`: that would also swallow a
            # cancel of the supervisor itself (a stop), which then slept on for ever; bounded
            await asyncio.wait(tasks, timeout=5.0)
        self._fail_pending(ModemUnavailable("modem port closed"))
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._urcs = asyncio.Queue()
        self._pdu_urc = None
        self._registered.clear()
        self._mem1 = ""
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
        # swallow our first commands as PDU text until a Ctrl-Z. Some firmwares answer ERROR to
        # that line: whatever it answers is let pass before anything is trusted.
        assert self._writer is not None
        self._ready.clear()
        self._writer.write(b"\x1b\r")
        await self._drain()
        await self._align()
        await self._setup("ATE0")
        await self._setup("AT+CMEE=1")
        await self._sim()
        self.info.manufacturer = _first(await self._setup("AT+CGMI"))
        self.info.model = _first(await self._setup("AT+CGMM"))
        if self.huawei:
            # Huawei sticks chatter ^RSSI/^BOOT lines every few seconds unless told not to
            await self._optional("AT^CURC=0")
        await self._setup("AT+CMGF=0")
        await self._memories()
        self.info.cannot = []
        try:
            await self._setup("AT+CNMI=2,1,0,2,0")
        except ModemError:
            # SIM800 refuses ds=2; with ds=1 its reports arrive as "+CDS: <len>" and a PDU line
            try:
                await self._setup("AT+CNMI=2,1,0,1,0")
            except ModemError:
                self._cannot("báo tin đến (AT+CNMI): tin nhận chỉ được đọc khi quét định kỳ")
        if self.config.smsc:
            await self._setup(f'AT+CSCA="{self.config.smsc}",145')
        self.info.smsc = _match(_CSCA, await self._optional("AT+CSCA?"))
        await self._optional("AT+COPS=3,0")
        self.info.operator = _match(_COPS, await self._optional("AT+COPS?"))
        await self._optional("AT+CREG=1")
        await self._optional("AT+CTZU=1")  # the clock follows the network's time (NITZ) where it sends it
        await self._poll_signal()
        self._ready.set()

    def _cannot(self, what: str) -> None:
        text = f"Modem này không {what}"
        if text not in self.info.cannot:
            self.info.cannot.append(text)
            log.warning("%s (%s %s)", text, self.info.manufacturer, self.info.model)

    async def _drain(self, limit: float = 3.0) -> None:
        """Wait until the modem has been quiet for QUIET seconds (at most `limit`): a late answer,
        an ERROR to the ESC, boot lines, all arrive with no command waiting and are let go."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while True:
                    self._rx.clear()
                    try:
                        async with asyncio.timeout(QUIET):
                            await self._rx.wait()
                    except TimeoutError:
                        return

    async def _align(self) -> None:
        """Prove that answers pair with commands: two clean OKs to AT in a row, the line drained
        after anything else (a stale answer, ERROR, busy)."""
        clean = 0
        for _ in range(12):
            try:
                await self.command("AT", timeout=2.0)
            except ModemError as e:
                clean = 0
                self._lost.clear()
                if e.code in BUSY:
                    await asyncio.sleep(1.0)
                await self._drain()
                continue
            clean += 1
            if clean == 2:
                return
        raise ModemUnavailable(f"no answer to AT on {self.port}")

    async def _setup(self, cmd: str) -> list[str]:
        """A command at start: SIM busy (14) or device busy (515) mean wait and ask again."""
        for attempt in range(10):
            try:
                return await self.command(cmd)
            except ModemError as e:
                if e.code not in BUSY or attempt == 9 or isinstance(e, ModemUnavailable):
                    raise
                log.info("modem busy (%s) on %s; asking again", e.code, cmd)
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    async def _sim(self) -> None:
        try:
            cpin = " ".join(await self._setup("AT+CPIN?"))
        except ModemError as e:
            if e.code in (10, 13, 15):
                self.info.sim = f"không có SIM hoặc SIM hỏng (+CME ERROR: {e.code})"
                raise ModemError(f"SIM: {self.info.sim}", code=e.code, transient=False) from None
            raise
        for state, words in SIM_STUCK.items():
            if state in cpin:
                self.info.sim = words
                raise ModemError(f"SIM: {words}", transient=False)
        if "SIM PIN" in cpin:
            if not self.config.pin:
                self.info.sim = "SIM cần mã PIN: đặt [modem] pin (SIM asks for a PIN)"
                raise ModemError(self.info.sim, transient=False)
            try:
                await self._setup(f'AT+CPIN="{self.config.pin}"')
            except ModemError as e:
                self.info.sim = f"mã PIN sai: SIM sẽ khoá sau vài lần nữa; kiểm tra [modem] pin ({e.message})"
                raise ModemError(self.info.sim, code=e.code, transient=False) from None
        elif "READY" not in cpin:
            raise ModemError(f"SIM not ready: {cpin or 'no answer'}")
        self.info.sim = "READY"

    async def _memories(self) -> None:
        """Select the SMS memories explicitly and learn every one a sweep must read."""
        groups = [re.findall(r'"(\w+)"', g) for g in re.findall(r"\(([^()]*)\)", " ".join(
            await self._optional("AT+CPMS=?")))]  # fmt: skip
        groups = [g for g in groups if g]
        if not groups:
            self._usual = self._mem1 = ""
            self._read_memories = []
            self.info.memories = {}
            self._cannot("chọn bộ nhớ tin nhắn (AT+CPMS): chỉ đọc bộ nhớ đang chọn")
            return
        readable = groups[0]
        self._usual = "SM" if "SM" in readable else readable[0]
        both = {"SM", "ME"} <= set(readable)
        # MT is ME and SM together; BM holds cell broadcasts, not SMS
        self._read_memories = [m for m in readable if m != "BM" and not (m == "MT" and both)]
        for n in (3, 2, 1):
            picks = [self._usual if self._usual in g else g[0] for g in (groups + [readable] * 3)[:n]]
            try:
                await self._setup("AT+CPMS=" + ",".join(f'"{m}"' for m in picks))
                break
            except ModemError:
                continue
        self._mem1 = self._usual

    async def _select(self, memory: str) -> list[str]:
        """With the lock held: make `memory` the one AT+CMGR/CMGL/CMGD act on."""
        if not self._usual or memory == self._mem1:
            return []
        lines = await self._exchange(f'AT+CPMS="{memory}"', self.config.command_timeout)
        self._mem1 = memory
        return lines

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
        stat = _match(_CREG, await self._optional("AT+CREG?"))
        self._set_registration(None if stat is None else int(stat))
        await self._poll_clock()

    async def _poll_clock(self) -> None:
        """The network's time, when the modem has it (NITZ with AT+CTZU=1): what the Pi's clock,
        which has no battery, is checked against."""
        lines = await self._optional("AT+CCLK?")
        when = network_time(next((x for x in lines or [] if x.startswith("+CCLK")), ""))
        if when is not None:
            offset = when - self._clock()
            before = self.info.network_offset
            self.info.network_offset = offset
            if before is None or abs(offset - before) > 1.0:
                self.on_change()

    def _set_registration(self, stat: int | None) -> None:
        """Sending waits while the modem is not on a network (an unknown answer counts as on)."""
        before = self.info.registration
        self.info.registration = None if stat is None else REGISTRATION.get(stat, f"stat {stat}")
        if stat in (None, 1, 5):
            self._registered.set()
        else:
            self._registered.clear()
        if self.info.registration != before:
            if stat not in (None, 1, 5):
                log.warning("modem not on a network (%s): sending waits", self.info.registration)
            self.on_change()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            if self._restarted.is_set():
                # it rebooted by itself: echo back on, settings gone; set it up again, then read
                # what it stored meanwhile
                self._restarted.clear()
                log.warning("modem restarted by itself: setting it up again")
                await self._initialise()
                next_sweep = loop.time()
            if loop.time() >= next_sweep or self._sweep_now.is_set():
                self._sweep_now.clear()
                await self._sweep()
                next_sweep = loop.time() + self.config.sweep_interval
            poll = self.config.poll_interval if self._registered.is_set() else min(5.0, self.config.poll_interval)
            timeout = min(poll, max(0.0, next_sweep - loop.time()))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel at shutdown
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await _first_of(self._lost, self._restarted, self._sweep_now)
            if self._lost.is_set():
                raise ModemUnavailable(self.info.last_error or "modem lost")
            if not self._restarted.is_set() and not self._sweep_now.is_set():
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
        self._rx.set()
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
        p = self._pending
        if line.startswith(URC_PREFIXES) or (line.startswith(BOOT_LINES) and not _answers(line, p)):
            self._urcs.put_nowait((line, None))
            return
        # an answer-like line: whatever it belongs to, the line is not quiet yet (URCs do not count:
        # they go their own way, and a flood of +CMTI must not hold up a reconnect)
        self._rx.set()
        if line.startswith(MEMORY_FULL):
            self._full(line)
        if p is None:
            log.debug("modem said %r with no command waiting", line)
            return
        if line == p.command:  # echo, before ATE0 took effect (or back after a restart)
            return
        if line in FINAL_OK or line.startswith(FINAL_ERROR):
            if not p.final.done():
                p.final.set_result((line, p.lines))
            return
        p.lines.append(line)
        if p.answer_ends is not None and line.startswith(p.answer_ends):
            asyncio.get_running_loop().call_later(QUIET, _end_without_ok, p)

    def _full(self, line: str) -> None:
        if not self._sweep_now.is_set():
            log.warning("modem SMS memory full (%s): reading and emptying it now", line)
        self._sweep_now.set()

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
        if cmd == "AT+CPIN?":
            p.answer_ends = "+CPIN:"
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
            packed = self.huawei and not self._ussd_text
            arg = encode_ussd_packed(code) if packed else code
            try:
                try:
                    await self._exchange(f'AT+CUSD=1,"{arg}",15', self.config.command_timeout)
                except ModemError:
                    if not packed:
                        raise
                    # Huawei E1752 refuses AT+CUSD in its default ^USSDMODE=1: text mode, then again
                    await self._exchange("AT^USSDMODE=0", self.config.command_timeout)
                    self._ussd_text, packed = True, False
                    await self._exchange(f'AT+CUSD=1,"{code}",15', self.config.command_timeout)
                async with asyncio.timeout(self.config.ussd_timeout):
                    line = await self._ussd
            except TimeoutError:
                raise ModemError(
                    f"no USSD answer to {code} in {self.config.ussd_timeout:g} s (this modem may not do USSD)"
                ) from None
            finally:
                self._ussd = None
        m = _CUSD.match(line)
        if m is None:
            raise ModemError(f"unreadable USSD answer {line!r}")
        status, text, dcs = int(m.group(1)), m.group(2), int(m.group(3) or 15)
        if status in (2, 4, 5) or text is None:
            raise ModemError(f"USSD {code} ended by the network (status {status})")
        return decode_ussd(text, dcs, packed=packed)

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
        if line.startswith(RESTARTED):
            self._restarted.set()
        elif m := _CREG.match(line):
            self._set_registration(int(m.group(1)))
        elif m := _INDEX.match(line):
            if not self._ready.is_set():
                # not set up yet (text mode, memories unselected): the sweep after set-up reads it
                log.debug("%s before the modem is ready: left for the sweep", line)
                return
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
        # delete that runs after another reader's would remove a new, unread message. AT+CMGR
        # acts on the selected memory: select the one the notification names, then the usual.
        async with self._lock:
            try:
                await self._select(memory)
                for _ in range(READS):
                    try:
                        lines = await self._exchange(f"AT+CMGR={index}", self.config.command_timeout)
                    except ModemError as e:
                        if e.code == 321:  # invalid index: nothing stored there (read already)
                            log.info("nothing at %s %d", memory, index)
                            return
                        raise
                    pdu = stored_pdu(lines)
                    if pdu is not None:
                        break
                head = next((i for i, x in enumerate(lines) if x.startswith("+CMGR:")), None)
                if pdu is None:
                    if head is None or head == len(lines) - 1:
                        return
                    # the same unreadable entry READS times: kept aside as it is, then deleted
                    pdu = max(lines[head + 1 :], key=len)
                    log.warning("unreadable SMS at %s %d (%r): kept in inbox_rejects", memory, index, pdu[:40])
                await self._deliver(pdu)
                await self._exchange(f"AT+CMGD={index}", self.config.command_timeout)
            finally:
                if self._mem1 != self._usual and not self._lost.is_set():
                    await self._select(self._usual)

    async def _sweep(self) -> None:
        """Read whatever every memory holds (missed notifications, SMS from before a restart, a
        full memory), and note how full each is."""
        found = 0
        for memory in self._read_memories or [""]:
            async with self._lock:
                try:
                    if memory:
                        await self._select(memory)
                    lines = await self._exchange("AT+CMGL=4", self.config.command_timeout)
                except ModemUnavailable:
                    raise
                except ModemError as e:
                    if not memory:
                        self._cannot(f"liệt kê tin đã lưu (AT+CMGL → {e.message})")
                    continue
                finally:
                    if memory and self._mem1 != self._usual and not self._lost.is_set():
                        await self._select(self._usual)
            indexes = [int(m.group(1)) for x in lines if x.startswith("+CMGL:") and (m := _CODE.search(x))]
            for index in indexes:
                await self._read_stored(memory or self._usual, index)
            found += len(indexes)
        if found:
            log.info("sweep found %d stored message(s)", found)
        await self._memory_use()

    async def _memory_use(self) -> None:
        if not self._read_memories:
            return
        use = {}
        for memory in self._read_memories:
            async with self._lock:
                try:
                    lines = await self._exchange(f'AT+CPMS="{memory}"', self.config.command_timeout)
                    self._mem1 = memory
                    m = re.search(r"(\d+)\s*,\s*(\d+)", " ".join(lines))
                    if m:
                        use[memory] = f"{m.group(1)}/{m.group(2)}"
                except ModemUnavailable:
                    raise
                except ModemError:
                    continue
                finally:
                    if self._mem1 != self._usual and not self._lost.is_set():
                        await self._select(self._usual)
        if use != self.info.memories:
            self.info.memories = use
            self.on_change()


async def probe(port: str, baudrate: int = 115200) -> dict[str, str | None]:
    """A short exchange on one serial port: does a modem answer AT there, and which one is it."""
    from gateway.sms.config import ModemConfig

    modem = ATModem(ModemConfig(port=port, baudrate=baudrate, command_timeout=2.0))
    try:
        await modem._open()
        assert modem._writer is not None
        modem._writer.write(b"\x1b\r")
        await modem._drain()
        await modem._align()
        await modem._optional("ATE0")
        found: dict[str, str | None] = {
            "manufacturer": _first(await modem._optional("AT+CGMI")),
            "model": _first(await modem._optional("AT+CGMM")),
        }
        found["sim"] = (_first(await modem._optional("AT+CPIN?")) or "?").replace("+CPIN:", "").strip()
        return found
    finally:
        await modem._close_port()


def network_time(line: str) -> float | None:
    """'+CCLK: "26/11/27,17:10:46+28"' (local time, the zone in quarter hours) → a timestamp; None
    for anything else, and for a modem clock the network never set (it counts from 2000 or 1980)."""
    m = _CCLK.match(line)
    if m is None:
        return None
    yy, mo, dd, hh, mi, ss = (int(g) for g in m.groups()[:6])
    zone = timezone(timedelta(minutes=15 * int(m.group(7) or 0)))
    try:
        when = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=zone)
    except ValueError:
        return None
    return when.timestamp() if when.year >= 2025 else None


def stored_pdu(lines: list[str]) -> str | None:
    """The PDU of an AT+CMGR answer: the first line after the +CMGR: header that is hex of the
    length the header gives; boot lines and warnings a modem slips in between are not it."""
    for i, line in enumerate(lines):
        if not line.startswith("+CMGR:"):
            continue
        m = re.search(r",\s*(\d+)\s*$", line)
        tpdu = int(m.group(1)) if m else None
        for candidate in lines[i + 1 :]:
            # the SMSC length octet, the SMSC, then the TPDU the header counts
            if _HEX.fullmatch(candidate) and (
                tpdu is None or len(candidate) == 2 * (1 + int(candidate[:2], 16) + tpdu)
            ):
                return candidate
        return None
    return None


def _end_without_ok(p: _Pending) -> None:
    if not p.final.done():
        p.final.set_result(("OK", p.lines))


def _answers(line: str, p: _Pending | None) -> bool:
    """Whether `line` ("+CPIN: READY") answers the command waiting ("AT+CPIN?")."""
    return p is not None and line.startswith("+") and p.command[2:].upper().startswith(line.split(":")[0].upper())


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


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

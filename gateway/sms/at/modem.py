"""The modem's behaviour: set-up, SIM, registration, signal, sending, USSD, what it says on its own, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.at.parse import (
    CMGS,
    COPS,
    CREG,
    CSCA,
    CSQ,
    CUSD,
    INDEX,
    REGISTRATION,
    RSSI,
    decode_ussd,
    encode_ussd_packed,
    first,
    match,
    network_time,
)
from gateway.sms.at.storage import ATStorage
from gateway.sms.config import ModemConfig
from gateway.sms.pdu import SubmitPdu
from gateway.sms.transport import Receiver

log = logging.getLogger(__name__)
# a submit silent for this many times what submits usually take on this modem means a hung modem
SUBMIT_MARGIN = 4.0
RESTARTED = ("RDY", "+CFUN: 1", "+PBREADY", "Call Ready", "SMS Ready", "+CPIN: READY")
# SIM states that no retry will change: a person must act
SIM_STUCK = {"SIM PUK": "SIM bị khoá, cần mã PUK (SIM PUK required)", "SIM PIN2": "SIM cần PIN2 (SIM PIN2)",
             "SIM PUK2": "SIM cần PUK2 (SIM PUK2)", "PH-SIM PIN": "máy khoá SIM (PH-SIM PIN)"}  # fmt: skip


class ATModem(ATStorage):
    """A GSM modem on a serial port: what Loa asks of it and how it keeps it working."""

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
        super().__init__(config, port=port, emulated=emulated, on_change=on_change)
        self._clock = clock  # the app's clock, which the network's time is compared with
        self._on_back = on_back  # told (an SMS to the maintainers) when a power cycle brought it back
        self._failures = 0
        self._cycled = False
        self._ussd: asyncio.Future[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._submit_avg: float | None = None  # seconds an answered AT+CMGS took, smoothed
        self._registered = asyncio.Event()
        self._restarted = asyncio.Event()
        self._closing = asyncio.Event()
        self._ussd_text = False  # Huawei E1752: USSD as plain text after AT^USSDMODE=0

    @property
    def huawei(self) -> bool:
        return "huawei" in (self.info.manufacturer or "").lower()

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

    def _forget(self) -> None:
        super()._forget()
        self._registered.clear()

    def _fail_pending(self, exc: Exception) -> None:
        super()._fail_pending(exc)
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
        self.info.manufacturer = first(await self._setup("AT+CGMI"))
        self.info.model = first(await self._setup("AT+CGMM"))
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
        self.info.smsc = match(CSCA, await self._optional("AT+CSCA?"))
        await self._optional("AT+COPS=3,0")
        self.info.operator = match(COPS, await self._optional("AT+COPS?"))
        await self._optional("AT+CREG=1")
        await self._optional("AT+CTZU=1")  # the clock follows the network's time (NITZ) where it sends it
        await self._poll_signal()
        self._ready.set()

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

    async def _poll_signal(self) -> None:
        rssi = match(CSQ, await self._optional("AT+CSQ"))
        if rssi is not None:
            self.info.signal = None if int(rssi) == 99 else int(rssi)
        stat = match(CREG, await self._optional("AT+CREG?"))
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
        ref = match(CMGS, lines)
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
        m = CUSD.match(line)
        if m is None:
            raise ModemError(f"unreadable USSD answer {line!r}")
        status, text, dcs = int(m.group(1)), m.group(2), int(m.group(3) or 15)
        if status in (2, 4, 5) or text is None:
            raise ModemError(f"USSD {code} ended by the network (status {status})")
        return decode_ussd(text, dcs, packed=packed)

    # ---- what the modem tells us on its own --------------------------------------------------------

    async def _on_urc(self, line: str, pdu: str | None) -> None:
        if pdu is not None:
            # +CMT / +CDS: delivered straight to us, nothing stored on the modem to delete
            await self._deliver(pdu)
            return
        if line.startswith(RESTARTED):
            self._restarted.set()
        elif m := CREG.match(line):
            self._set_registration(int(m.group(1)))
        elif m := INDEX.match(line):
            if not self._ready.is_set():
                # not set up yet (text mode, memories unselected): the sweep after set-up reads it
                log.debug("%s before the modem is ready: left for the sweep", line)
                return
            await self._read_stored(m.group(1), int(m.group(2)))
        elif m := RSSI.match(line):
            rssi = int(m.group(1))
            self.info.signal = None if rssi == 99 else rssi
        elif line.startswith("+CUSD:"):
            if self._ussd is not None and not self._ussd.done():
                self._ussd.set_result(line)
        else:
            log.debug("ignored %r", line)


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

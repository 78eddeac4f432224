"""The modem's behaviour: set-up, SIM, registration, signal, sending, USSD, what it says on its own, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.at import grammar
from gateway.sms.at.calls import ATCalls
from gateway.sms.at.parse import (
    CMGS,
    COPS,
    CSCA,
    CUSD,
    INDEX,
    RSSI,
    decode_ussd,
    encode_ussd_packed,
    first,
    match,
)
from gateway.sms.config import ModemConfig
from gateway.sms.pdu import SubmitPdu
from gateway.sms.transport import Receiver

log = logging.getLogger(__name__)
# a submit silent for this many times what submits usually take on this modem means a hung modem
SUBMIT_MARGIN = 4.0
# what a module says once SMS works after power-up (Quectel, SIMCom; A7670 says SMS DONE too)
SMS_DONE = ("+QIND: SMS DONE", "SMS DONE", "+QIND: PB DONE", "PB DONE", "SMS Ready")
# +CMS ERROR codes an LTE module answers while SMS is not initialised yet: operation not allowed
# (302), SIM busy (314), unknown error (500). Wait for SMS DONE; a message's tries are not touched.
NOT_READY = frozenset({302, 314, 500})
# the +CMGS answer time a module's manual documents: Quectel's and SIMCom's LTE modules 120 s
CMGS_DOCUMENTED = (("quectel", 120.0), ("simcom", 120.0))
CMGS_USUAL = 60.0  # what GSM-era manuals give (SIM800, Huawei)
SLOW_CLEARS = 3  # submits as fast as usual in a row before the network is called fast again
UNANSWERED_KEPT = 256  # PDUs written without an answer, remembered (each is written twice at most)
# what a modem says only as it starts (SIM800, Quectel, SIMCom manuals): said after its set-up, it
# restarted by itself (a brown-out on the Pi's USB) and forgot every setting
RESTARTED = ("RDY", "+CFUN: 1", "+PBREADY", "Call Ready", "SMS Ready", "+CPIN: READY")


class ATModem(ATCalls):
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
        super().__init__(config, port=port, emulated=emulated, on_change=on_change, clock=clock)
        self._on_back = on_back  # told (an SMS to the maintainers) when a power cycle brought it back
        self._failures = 0
        self._cycled = False
        self._ussd: asyncio.Future[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._settled = False  # set-up got past the first two clean ATs: a restart from here undoes it
        self._closing = asyncio.Event()
        self._ussd_text = False  # Huawei E1752: USSD as plain text after AT^USSDMODE=0
        self._sms_ready = asyncio.Event()  # SMS initialised (an LTE module says SMS DONE)
        self._sms_done = asyncio.Event()  # set by the SMS DONE URC itself
        self._cnma = False  # AT+CSMS=1 taken: every routed +CDS is acknowledged with AT+CNMA
        self._fast: float | None = None  # seconds a submit takes on a quiet network, smoothed
        self._fast_in_row = 0
        # PDU hex → times written after a prompt without any answer (the part may have gone out)
        self._unanswered: dict[str, int] = {}

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
        await self._sms_ready.wait()

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

    def _booted(self, line: str, *, echo: bool = False) -> None:
        """Restarted by itself once set up: echo back on, settings gone, whatever it was asked lost.
        Called lost, so that every waiter fails at once and the supervisor sets it up from scratch
        and marks it connected (set up again inline, a timeout in it left the modem unmarked for ever)."""
        if not self._settled or not (echo or line.startswith(RESTARTED)):
            return
        p = self._pending
        taken = p is not None and p.command.startswith("AT+CMGS") and any(x.startswith("+CMGS:") for x in p.lines)
        if taken and p is not None and not p.final.done():
            # the network took the part before the restart: its reference stands, never sent again
            p.final.set_result(("OK", p.lines))
        self._mark_lost(f"modem restarted by itself ({'its echo back on' if echo else line})")

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
        self._sms_ready.clear()
        self._settled = False  # boot lines of a stick that is just starting are expected until aligned
        self._writer.write(b"\x1b\r")
        await self._drain()
        await self._align()
        self._settled = True
        await self._setup("ATE0")
        await self._setup("AT+CMEE=1")
        await self._sim()
        self.info.manufacturer = first(await self._setup("AT+CGMI"))
        self.info.model = first(await self._setup("AT+CGMM"))
        if self.huawei:
            # Huawei sticks chatter ^RSSI/^BOOT lines every few seconds unless told not to
            await self._optional("AT^CURC=0")
        await self._setup("AT+CMGF=0")
        await self._until_sms_ready()
        await self._memories()
        self.info.cannot = []
        await self._notifications()
        if self.config.smsc:
            await self._setup(f"AT+CSCA={grammar.quoted('number', self.config.smsc, 'smsc')},145")
        self.info.smsc = match(CSCA, await self._optional("AT+CSCA?"))
        await self._optional("AT+COPS=3,0")
        self.info.operator = match(COPS, await self._optional("AT+COPS?"))
        await self._network_setup()
        await self._calls_setup()
        await self._optional("AT+CTZU=1")  # the clock follows the network's time (NITZ) where it sends it
        await self._poll_signal()
        self._ready.set()

    async def _until_sms_ready(self) -> None:
        """An LTE module just powered up answers SMS commands with +CMS ERROR 302/500 until it says
        SMS DONE: wait for that (or ask again every few seconds), never longer than sms_ready_timeout."""
        self._sms_done.clear()
        if (refused := await self._sms_check()) is not None:
            log.info("SMS not ready yet on %s (%s): waiting for SMS DONE", self.port, refused.message)
            await self._wait_sms_ready()
        self._sms_ready.set()

    async def _notifications(self) -> None:
        """New SMS announced by index (+CMTI, stored first: nothing lost if Loa is down); delivery
        reports the cheapest way: routed to the port (+CDS) and acknowledged with AT+CNMA where the
        modem takes AT+CSMS=1 (one command a report), else stored and announced (+CDSI), read in batches."""
        self._cnma = False
        if await self._accepts("AT+CSMS=1"):
            self._cnma = True  # a report routed from now on is acknowledged
            if await self._accepts("AT+CNMI=2,1,0,1,0"):
                return
            self._cnma = False
            await self._optional("AT+CSMS=0")
        try:
            await self._setup("AT+CNMI=2,1,0,2,0")
        except ModemError:
            # SIM800 refuses ds=2; with ds=1 its reports arrive as "+CDS: <len>" and a PDU line
            try:
                await self._setup("AT+CNMI=2,1,0,1,0")
            except ModemError:
                self._cannot("báo tin đến (AT+CNMI): tin nhận chỉ được đọc khi quét định kỳ")

    async def _check_routing(self) -> None:
        """A routed report left unacknowledged (Loa busy or down at that moment) makes the modem turn
        routing off, +CMTI included (TS 27.005 §3.4.4): turned back on at the next poll."""
        if not self._cnma:
            return
        cnmi = " ".join(await self._optional("AT+CNMI?"))
        if re.search(r"\+CNMI:\s*0\s*,", cnmi) or re.search(r"\+CNMI:\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*0", cnmi):
            log.warning("modem turned SMS notifications off (%s): on again", cnmi)
            await self._optional("AT+CNMI=2,1,0,1,0")
            self._sweep_now.set()  # and whatever arrived meanwhile is read now

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            if loop.time() >= next_sweep or self._sweep_now.is_set():
                self._sweep_now.clear()
                await self._sweep()
                next_sweep = loop.time() + self.config.sweep_interval
            poll = self.config.poll_interval if self._registered.is_set() else min(5.0, self.config.poll_interval)
            timeout = min(poll, max(0.0, next_sweep - loop.time()))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel at shutdown
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await _first_of(self._lost, self._sweep_now)
            if self._lost.is_set():
                raise ModemUnavailable(self.info.last_error or "modem lost")
            if not self._sweep_now.is_set():
                await self._poll_signal()
                await self._check_routing()

    @property
    def cmgs_max(self) -> float:
        """How long a +CMGS answer may take here: what the module's manual documents (a congested
        cell takes that long), never more than send_timeout."""
        maker = (self.info.manufacturer or "").lower()
        documented = next((t for name, t in CMGS_DOCUMENTED if name in maker), CMGS_USUAL)
        return min(self.config.send_timeout, documented)

    def submit_timeout(self, pdu: SubmitPdu) -> tuple[float, float]:
        """(expected, timeout) for one submit: the serial transfer of this PDU plus what submits take
        on a quiet network here; SUBMIT_MARGIN times that means a slow network (the dashboard says
        so), and only past the documented +CMGS time is the modem called lost."""
        serial = (len(pdu.hex) + 16) * 10 / self.config.baudrate
        if self._fast is None:
            return self.cmgs_max, self.cmgs_max
        return serial + self._fast, self.cmgs_max

    async def send_pdu(self, pdu: SubmitPdu) -> int:
        while True:
            try:
                return await self._submit(pdu)
            except ModemUnavailable:
                raise
            except ModemError as e:
                # an LTE module restarted under us, SMS not initialised again yet: the part was
                # refused, not sent; it goes once SMS is ready, no try of the message spent
                if not _not_ready(e) or await self._sms_check() is None:
                    raise
                log.warning("SMS not ready on %s (%s): the part waits for SMS DONE", self.port, e.message)
                await self._wait_sms_ready()

    async def _submit(self, pdu: SubmitPdu) -> int:
        written = self._unanswered.get(pdu.hex, 0)
        if written >= 2:
            raise ModemError("no answer to AT+CMGS twice for this part: not sent a third time "
                             "(it may have reached the phone)")  # fmt: skip
        loop = asyncio.get_running_loop()
        async with self._lock:
            if written:
                # written once and never answered: it goes again only after the modem has answered
                # a plain command (a modem still busy with the first would take it twice)
                await self._exchange("AT", self.config.command_timeout)
            expected, timeout = self.submit_timeout(pdu)
            info = self.info
            # overdue (and /healthz "degraded") only when the submit is slow by the measure that calls the
            # network slow (SUBMIT_MARGIN times the usual, at least command_timeout), not the moment it
            # takes longer than a fast average: a 0.9 s submit on a busy cell is no trouble (issue #31)
            late = self._slow_after(expected)
            info.busy_with, info.busy_since, info.busy_expected = "AT+CMGS", time.monotonic(), late
            overdue = loop.call_later(late, self.on_change)
            slow = loop.call_later(self._slow_after(expected), self._slow, True)
            try:
                lines = await self._exchange(
                    f"AT+CMGS={pdu.tpdu_length}", self.config.command_timeout, body=pdu.hex, body_timeout=timeout
                )
            except ModemUnavailable:
                if self._body_written:
                    self._unanswered[pdu.hex] = written + 1
                    while len(self._unanswered) > UNANSWERED_KEPT:
                        del self._unanswered[next(iter(self._unanswered))]
                raise
            finally:
                overdue.cancel()
                slow.cancel()
                took = time.monotonic() - info.busy_since
                info.busy_with = None
            self._unanswered.pop(pdu.hex, None)
            self._learn(took, expected)
        ref = match(CMGS, lines)
        if ref is None:
            raise ModemError(f"no message reference in {lines!r}")
        return int(ref)

    def _slow_after(self, expected: float) -> float:
        return max(self.config.command_timeout, SUBMIT_MARGIN * expected)

    def _learn(self, took: float, expected: float) -> None:
        """A submit answered after `took` s: the quiet network's usual time, or a slow network."""
        if self._fast is None:
            self._fast = took
        elif took > self._slow_after(expected):
            self._fast_in_row = 0
            self._slow(True)
            return
        self._fast = 0.8 * self._fast + 0.2 * took
        self._fast_in_row += 1
        if self.info.slow_network and self._fast_in_row >= SLOW_CLEARS:
            self._slow(False)

    def _slow(self, slow: bool) -> None:
        if slow != self.info.slow_network:
            self.info.slow_network = slow
            if slow:
                log.warning("network slow on %s: submits answered late; waiting up to %g s each", self.port,
                            self.cmgs_max)  # fmt: skip
            self.on_change()

    async def _sms_check(self) -> ModemError | None:
        """None when SMS works (AT+CPMS? answered), else the not-ready error."""
        try:
            await self.command("AT+CPMS?")
        except ModemUnavailable:
            raise
        except ModemError as e:
            return e if _not_ready(e) else None
        return None

    async def _wait_sms_ready(self) -> None:
        self._sms_ready.clear()
        self._sms_done.clear()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.config.sms_ready_timeout
        while (refused := await self._sms_check()) is not None:
            if loop.time() >= give_up:
                self._mark_lost(f"SMS not ready after {self.config.sms_ready_timeout:g} s ({refused.message})")
                raise ModemUnavailable("SMS not ready")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(5.0, max(0.0, give_up - loop.time()))):
                    await _first_of(self._sms_done, self._lost)
            if self._lost.is_set():
                raise ModemUnavailable(self.info.last_error or "modem lost")
        self._sms_ready.set()

    async def ussd(self, code: str) -> str:
        loop = asyncio.get_running_loop()
        async with self._lock:
            # after a UCS-2 session some modems keep CSCS="UCS2" and then garble USSD
            await self._exchange('AT+CSCS="GSM"', self.config.command_timeout)
            self._ussd = loop.create_future()
            packed = self.huawei and not self._ussd_text
            arg = encode_ussd_packed(code) if packed else code
            kind = "hex" if packed else "ussd"
            try:
                try:
                    await self._exchange(f"AT+CUSD=1,{grammar.quoted(kind, arg)},15", self.config.command_timeout)
                except ModemError:
                    if not packed:
                        raise
                    # Huawei E1752 refuses AT+CUSD in its default ^USSDMODE=1: text mode, then again
                    await self._exchange("AT^USSDMODE=0", self.config.command_timeout)
                    self._ussd_text, packed = True, False
                    await self._exchange(f"AT+CUSD=1,{grammar.quoted('ussd', code)},15", self.config.command_timeout)
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
            # +CMT / +CDS: delivered straight to us, nothing stored on the modem to delete; after
            # AT+CSMS=1 the modem holds the next until this one is acknowledged (persisted first)
            await self._deliver(pdu)
            if self._cnma:
                try:
                    await self.command("AT+CNMA")
                except ModemUnavailable:
                    raise
                except ModemError as e:  # 340: the modem no longer expected it (a late one)
                    log.info("report acknowledgement refused: %s", e)
            return
        if self._on_call_line(line):
            return
        if line.startswith(SMS_DONE):
            self._sms_done.set()
            if self._ready.is_set():
                self._sms_ready.set()
        if self._on_registration(line):  # +CREG/+CGREG/+CEREG/+C5GREG
            return
        if m := INDEX.match(line):
            if not self._ready.is_set():
                # not set up yet (text mode, memories unselected): the sweep after set-up reads it
                log.debug("%s before the modem is ready: left for the sweep", line)
                return
            await self._on_stored(m.group(1), int(m.group(2)))
        elif m := RSSI.match(line):
            rssi = int(m.group(1))
            self.info.signal = None if rssi == 99 else rssi
        elif line.startswith("+CUSD:"):
            if self._ussd is not None and not self._ussd.done():
                self._ussd.set_result(line)
        else:
            log.debug("ignored %r", line)


def _not_ready(e: ModemError) -> bool:
    """+CMS ERROR 302/314/500: SMS not initialised yet on a module that has just started."""
    return "+CMS ERROR" in e.message and e.code in NOT_READY


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

"""The AT line protocol over a serial port: one reader, one pending command, final results, URCs, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial_asyncio_fast

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.at import grammar
from gateway.sms.at.parse import FINAL_ERROR, FINAL_OK, check
from gateway.sms.config import ModemConfig
from gateway.sms.transport import TransportInfo

log = logging.getLogger(__name__)

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
    "+QIND:",
    "+QUSIM:",
    "SMS DONE",
    "PB DONE",
    "*ATREADY:",
)
# These two announce a PDU on the next line.
URC_WITH_PDU = ("+CDS:", "+CMT:")
# A modem that restarted says one of these, whenever it happens, even in the middle of an answer;
# a line starting "+CPIN:" or "+CFUN:" is the answer only when AT+CPIN? / AT+CFUN? is waiting.
BOOT_LINES = ("RDY", "+CFUN:", "+CPIN:", "Call Ready", "SMS Ready", "+PBREADY", "+CREG:")
# lines that answer a query (AT+CEREG?, AT^HCSQ?) when it waits, and are URCs otherwise
ANSWER_OR_URC = (*BOOT_LINES, "+CGREG:", "+CEREG:", "+C5GREG:", "^HCSQ:")
# what a modem says when its SMS memory is full (it stops taking SMS until one is deleted)
MEMORY_FULL = ('+QIND: "smsfull"', "^SMMEMFULL", '+CIEV: "SMSFULL"', '+CIEV: "MEMFULL"', "+CMS ERROR: 322")
# the commands NO CARRIER can be the final result of
CALL_COMMANDS = ("ATD", "ATA", "ATH", "AT+CHUP", "ATO")
QUIET = 0.3  # seconds without a byte from the modem: whatever it had to say is said
# +CME ERROR codes at start that mean "wait and ask again": SIM busy, device busy
BUSY = frozenset({14, 515})


@dataclass
class _Pending:
    command: str
    final: asyncio.Future[tuple[str, list[str]]]
    prompt: asyncio.Future[None] | None = None
    lines: list[str] = field(default_factory=list)
    # Wavecom answers AT+CPIN? without OK: the answer line alone ends it, a little later
    answer_ends: str | None = None
    echoed: bool = False  # the modem said the command back


class ATLine:
    """The conversation on one serial port. Commands are serialised by one lock; one task reads the
    port; lines a modem sends on its own go to `_on_urc`, which the modem behaviour overrides."""

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
        self.on_change = on_change
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._urcs: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._pdu_urc: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._rx = asyncio.Event()  # set whenever an answer-like line (not a URC) arrives
        self._body_written = False  # the last exchange wrote its body (a PDU after the > prompt)
        self._echo_off = False  # a command was answered without its echo since the port opened

    @property
    def port(self) -> str:
        return self._port() if callable(self._port) else self._port

    async def _open(self) -> None:
        self._lost.clear()
        self._echo_off = False
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
        self._forget()
        if was_connected:
            self.on_change()

    def _forget(self) -> None:
        """What a closed port invalidates beyond the line itself (the modem's state)."""

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

    async def _accepts(self, cmd: str) -> bool:
        """Whether the modem answers OK to `cmd` (an optional setting it may not know)."""
        try:
            await self.command(cmd)
        except ModemUnavailable:
            raise
        except ModemError as e:
            log.info("modem refused optional %s: %s", cmd, e)
            return False
        return True

    async def _optional(self, cmd: str) -> list[str]:
        try:
            return await self.command(cmd)
        except ModemUnavailable:
            raise
        except ModemError as e:
            log.info("modem refused optional %s: %s", cmd, e)
            return []

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
        if line.startswith(MEMORY_FULL):
            self._heard(line)
        if line.startswith(BOOT_LINES) and not _answers(line, p):
            self._booted(line)
        # a caller who gives up says NO CARRIER at any moment: the end of a call only, never the
        # final result of a submit or a read it happens to interrupt
        call_ended = line == "NO CARRIER" and (p is None or not p.command.upper().startswith(CALL_COMMANDS))
        if line.startswith(URC_PREFIXES) or call_ended or (line.startswith(ANSWER_OR_URC) and not _answers(line, p)):
            self._urcs.put_nowait((line, None))
            return
        # an answer-like line: whatever it belongs to, the line is not quiet yet (URCs do not count:
        # they go their own way, and a flood of +CMTI must not hold up a reconnect)
        self._rx.set()
        if p is None:
            log.debug("modem said %r with no command waiting", line)
            return
        if line == p.command:  # echo, before ATE0 took effect (or back after a restart)
            p.echoed = True
            if self._echo_off:
                self._booted(line, echo=True)
            return
        if line in FINAL_OK or line.startswith(FINAL_ERROR):
            if not p.echoed:
                self._echo_off = True
            if not p.final.done():
                p.final.set_result((line, p.lines))
            return
        p.lines.append(line)
        if p.answer_ends is not None and line.startswith(p.answer_ends):
            asyncio.get_running_loop().call_later(QUIET, _end_without_ok, p)

    def _heard(self, line: str) -> None:
        """An answer-like line saying the SMS memory is full: the modem behaviour acts on it."""

    def _booted(self, line: str, *, echo: bool = False) -> None:
        """A line a modem says as it starts (RDY, +CPIN: READY...), or the echo back after ATE0 had
        taken effect: the modem behaviour judges whether it restarted."""

    # ---- commands --------------------------------------------------------------------------------

    async def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        async with self._lock:
            return await self._exchange(cmd, timeout or self.config.command_timeout)

    async def _exchange(
        self, cmd: str, timeout: float, *, body: str | None = None, body_timeout: float = 0
    ) -> list[str]:
        grammar.line(cmd)  # the one place every command line passes: nothing rides along on it
        if body is not None:
            grammar.value("hex", body, "pdu")
        if self._writer is None or self._lost.is_set():
            raise ModemUnavailable("modem not connected")
        loop = asyncio.get_running_loop()
        self._body_written = False
        p = _Pending(cmd, loop.create_future(), loop.create_future() if body is not None else None)
        if cmd == "AT+CPIN?":
            p.answer_ends = "+CPIN:"
        self._pending = p
        try:
            self._writer.write(cmd.encode() + b"\r")
            if p.prompt is not None and body is not None:
                await self._await_first(p, timeout, cmd)
                if p.final.done():  # an error instead of the prompt
                    return check(cmd, *p.final.result())
                self._writer.write(body.encode() + b"\x1a")
                self._body_written = True  # from here on the part may reach the network
                timeout = body_timeout
            final, lines = await self._await(p.final, timeout, cmd)
            return check(cmd, final, lines)
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
        """A line the modem said on its own (and the PDU that followed a +CMT/+CDS)."""
        log.debug("ignored %r", line)


def _end_without_ok(p: _Pending) -> None:
    if not p.final.done():
        p.final.set_result(("OK", p.lines))


def _answers(line: str, p: _Pending | None) -> bool:
    """Whether `line` ("+CPIN: READY") answers the command waiting ("AT+CPIN?")."""
    return (
        p is not None and line.startswith(("+", "^")) and p.command[2:].upper().startswith(line.split(":")[0].upper())
    )

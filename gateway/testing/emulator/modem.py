"""The emulated modem: a pty, the bytes in and out, the command worker, the network and the phone side."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import tempfile
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gsmmodem.pdu import Concatenation, decodeSmsPdu

from gateway.testing.emulator import commands
from gateway.testing.emulator.families import FAMILIES
from gateway.testing.emulator.pdus import SentMessage, SentPart, deliver_pdus, status_report_pdu, tpdu_len

log = logging.getLogger(__name__)


@dataclass
class Faults:
    silent: bool = False
    fail_numbers: dict[str, int] = field(default_factory=dict)  # number → +CMS ERROR code, every time
    fail_next: list[int] = field(default_factory=list)  # codes for the next submits, in order
    hang_numbers: set[str] = field(default_factory=set)  # a submit to these is never answered
    vanish_at: int = 0  # the stick is pulled as this part (counting all it sent, from 1) begins; 0 = never
    # the modem restarts by itself at the next command starting with this ("PDU": the text after a
    # +CMGS prompt), "" = never: `reboot_where` "before" answering it (the command is lost), "inside"
    # its answer (boot lines before its last line), or "after" it; silent `reboot_silent` s first
    reboot_at: str = ""
    reboot_where: str = "before"
    reboot_silent: float = 0.0


class EmulatedModem:
    """A modem on a pty. The gateway opens `path`; tests and people play the phone through methods."""

    def __init__(
        self,
        family: str = "huawei",
        *,
        command_delay: float = 0.0,
        submit_delay: float = 0.0,
        auto_report: bool = False,
        operator: str = "Viettel",
        smsc: str = "+84980200030",
        pin: str = "",
        link_dir: str | Path | None = None,
        ussd_answer: str = "TK chinh: 25.000d, han den 31/12/2026.",
        sms_ready: bool = True,
    ) -> None:
        self.family = FAMILIES[family]
        self.command_delay = command_delay
        self.submit_delay = submit_delay
        self.auto_report = auto_report
        self.operator = operator
        # the network's time as NITZ gives it (AT+CCLK?); None: this network sends none (the clock
        # then counts from 2000, as a stick's does after power-up)
        self.network_time: Callable[[], float] | None = time.time
        self.smsc = smsc
        self.pin = pin
        self.ussd_answer = ussd_answer
        self.faults = Faults()
        self.reboots = 0  # times it restarted by itself
        self._boot_inside = False
        self.sent: list[SentPart] = []
        self._unplugged = 0
        self.commands: list[str] = []
        self.on_sent: Callable[[SentMessage], None] | None = None
        # set while a PDU is with the "network" (between the Ctrl-Z and the +CMGS answer)
        self.submitting = asyncio.Event()
        self.on_command: Callable[[str], None] | None = None
        self._link_dir = Path(link_dir) if link_dir else None
        self._own_dir: Path | None = None
        self.path = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._inbuf = b""
        self._pdu_mode_len: int | None = None
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._storage: dict[str, dict[int, str]] = {name: {} for name, _ in self.family.memories}
        self._capacity = dict(self.family.memories)
        names = [name for name, _ in self.family.memories]
        # AT+CPMS memories: 1 read/list/delete, 2 write, 3 where new SMS go (kept across resets)
        self.mem = [names[0] if names else "", names[0] if names else "", self.family.store_in if names else ""]
        self._undelivered: list[str] = []  # held by the network while the memory is full
        self.pin_puk = False  # three wrong PINs: the SIM wants its PUK
        self.creg_n = 0  # AT+CREG=<n>: 2 adds the location area and cell to the answer
        self.cops_format = 0
        # +CREG stat: 1 home, 5 roaming, 2 searching, 3 denied, 0 not registered. An LTE module on
        # Vietnam's LTE-only networks: not on the circuit-switched domain, on EPS (+CEREG), SMS over LTE
        self.creg = 0 if self.family.lte else 1
        self.cereg = 1
        # False: just powered up, SMS commands answer `family.not_ready` until `sms_done()`
        self.sms_ready = sms_ready or not self.family.sms_done
        self.csms = 0  # AT+CSMS=1: routed +CDS must be acknowledged (AT+CNMA)
        self.unacked = 0  # routed +CDS not yet acknowledged
        self.acked = 0
        self.clip = False  # AT+CLIP=1: +CLIP after each RING
        self.calls: list[str] = []  # the numbers that rang
        self.hung_up = 0  # calls hung up by the gateway (ATH / AT+CHUP)
        self._ringing: asyncio.Task[None] | None = None
        self._cds_queue: list[str] = []
        self.cmgs_written: list[str] = []  # every PDU written after a +CMGS prompt, answered or not
        self._mid_cmgs: list[str] = []
        self._mr = 0
        self._concat_ref = 0
        self._changed = asyncio.Condition()
        self._outbuf = b""
        self._reset_state()

    def _reset_state(self) -> None:
        self._busy = self.family.busy_at_start
        self._sim_busy_left = set(self.family.sim_busy)
        self.ussd_text_mode = False
        self.echo = True
        self.curc = True
        self.cnmi: str | None = None
        self.cscs = "IRA"
        self.pdu_mode = False
        self.pin_ok = not self.pin
        self.csms = 0
        self.clip = False

    # ---- lifecycle ----

    async def start(self) -> None:
        if self._link_dir is None:
            self._own_dir = self._link_dir = Path(tempfile.mkdtemp(prefix="loa-emulator-"))
        self._link_dir.mkdir(parents=True, exist_ok=True)  # `--link-dir /tmp/loa` on a fresh boot
        self.path = str(self._link_dir / f"modem-{self.family.name}")
        self._open_pty()
        self._worker = asyncio.create_task(self._work(), name="emulator")

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # raw at once, and the slave kept open by us: otherwise the line discipline mangles
        # CR/LF and the master sees EIO whenever the gateway closes its side
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = Path(self.path)
        tmp = link.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)
        asyncio.get_running_loop().add_reader(master, self._on_readable)

    def _close_pty(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]
        self._master = self._slave = None
        self._outbuf = b""
        with contextlib.suppress(FileNotFoundError):
            Path(self.path).unlink()

    async def close(self) -> None:
        if self._ringing is not None:
            self._ringing.cancel()
        if self._worker:
            self._worker.cancel()
            await asyncio.wait({self._worker}, timeout=5.0)  # a test's teardown never hangs on it
        self._close_pty()
        if self._own_dir is not None:
            with contextlib.suppress(OSError):
                self._own_dir.rmdir()

    async def vanish(self) -> None:
        """The USB stick is pulled: the port disappears, whatever was being said is lost."""
        self._unplugged += 1
        self._close_pty()
        self._inbuf = b""
        self._pdu_mode_len = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self._reset_state()

    async def reboot(self, silent: float = 0.0) -> None:
        """It restarts by itself: what it was saying and hearing is lost, silent a while, then its
        family's boot lines, echo back on, every setting as after power-up (stored SMS kept)."""
        self.reboots += 1
        self._inbuf = b""
        self._pdu_mode_len = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self._reset_state()
        self.creg_n = self.cops_format = 0
        await self._silence(silent)
        self._write(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in self.family.boot))

    async def _silence(self, seconds: float) -> None:
        """Deaf and mute for `seconds`, as a restarting stick is: what it is told meanwhile is lost."""
        if not seconds:
            return
        self.faults.silent = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self.faults.silent = False
        self._inbuf = b""
        self._pdu_mode_len = None
        while not self._queue.empty():
            self._queue.get_nowait()

    def _reboot_due(self, what: str) -> str:
        """Where the reboot the faults ask for falls on `what` ("" = not here)."""
        if not self.faults.reboot_at or not what.upper().startswith(self.faults.reboot_at.upper()):
            return ""
        self.faults.reboot_at = ""
        return self.faults.reboot_where

    async def come_back(self) -> None:
        """Plugged in again: a fresh modem (echo on, settings reset) at the same path."""
        self._open_pty()

    # ---- bytes in and out ----

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        self._inbuf += data
        self._split_input()

    def _split_input(self) -> None:
        while self._inbuf:
            if self._pdu_mode_len is not None:
                ends = [i for i in (self._inbuf.find(b"\x1a"), self._inbuf.find(b"\x1b")) if i >= 0]
                if not ends:
                    return
                cut = min(ends)
                body, mark = self._inbuf[:cut], self._inbuf[cut : cut + 1]
                self._inbuf = self._inbuf[cut + 1 :]
                self._pdu_mode_len = None
                kind = "pdu" if mark == b"\x1a" else "abort"
                self._queue.put_nowait((kind, body.decode("ascii", "replace").strip()))
                continue
            end = self._inbuf.find(b"\r")
            if end < 0:
                return
            raw, self._inbuf = self._inbuf[:end], self._inbuf[end + 1 :]
            line = raw.replace(b"\x1b", b"").decode("ascii", "replace").strip("\n ")
            if not line:
                if self.family.esc_error and not self.faults.silent:
                    self._queue.put_nowait(("cmd", ""))  # "not a command": ERROR
                continue
            self._queue.put_nowait(("cmd", line))
            if re.match(r"(?i)^AT\+CMGS=\d+$", line) and not self.faults.silent:
                self._pdu_mode_len = int(line.split("=")[1])

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        self._outbuf += data
        self._flush()

    def _flush(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        try:
            n = os.write(self._master, self._outbuf)
            self._outbuf = self._outbuf[n:]
        except BlockingIOError:
            pass
        except OSError:
            self._outbuf = b""
        loop.remove_writer(self._master)
        if self._outbuf:
            loop.add_writer(self._master, self._flush)

    def _lines(self, *lines: str) -> None:
        if self._boot_inside and lines:
            # a restart in the middle of an answer: its boot lines before the answer's last line
            self._boot_inside = False
            self.reboots += 1
            self._reset_state()
            lines = (*lines[:-1], *self.family.boot, lines[-1])
        self._write(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines))

    def urc(self, line: str) -> None:
        """Say something unsolicited, now, whatever the gateway is in the middle of."""
        self._lines(line)

    def garbage(self, data: bytes = b"\xff\xfe\x80 \x00\xc3(junk\r\n") -> None:
        self._write(data)

    def chatter(self) -> None:
        self.urc("^RSSI: 21")
        self.urc("^BOOT: 12345678,0,0,0,72")

    # ---- the command worker ----

    async def _work(self) -> None:
        while True:
            kind, text = await self._queue.get()
            try:
                if self.faults.silent:
                    continue
                if self.command_delay:
                    await asyncio.sleep(self.command_delay)
                if kind == "cmd":
                    await self._command(text)
                elif kind == "pdu":
                    await self._submit(text)
                elif kind == "abort":
                    self._lines("OK")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("emulator failed on %r", text)
                self._lines("ERROR")

    async def _command(self, line: str) -> None:
        self.commands.append(line)
        if self.on_command is not None:
            self.on_command(line)
        if self.echo and line:
            self._write(line.encode() + b"\r")
        reboot = self._reboot_due(line)
        if reboot == "before":
            await self.reboot(self.faults.reboot_silent)
            return
        self._boot_inside = reboot == "inside"
        await self._answer(line)
        if self._boot_inside:  # an answer with no line (the > prompt): the boot lines after it
            self._boot_inside = False
            self.reboots += 1
            self._reset_state()
            self._pdu_mode_len = None
            self._write(b"".join(b"\r\n" + x.encode() + b"\r\n" for x in self.family.boot))
        if reboot == "inside":
            await self._silence(self.faults.reboot_silent)
        if reboot == "after":
            await self.reboot(self.faults.reboot_silent)

    async def _answer(self, line: str) -> None:
        if not line.upper().startswith("AT"):
            self._lines("ERROR")
            return
        if self._busy > 0:
            self._busy -= 1
            self._lines("+CME ERROR: 515")
            return
        if line.upper() in self._sim_busy_left:
            self._sim_busy_left.discard(line.upper())
            self._lines("+CME ERROR: 14")
            return
        body = line[2:]
        upper = body.upper()
        handler = commands.find(commands.BEFORE_PIN, upper)
        if handler is None and not self.pin_ok:
            self._lines("+CME ERROR: 11")
            return
        handler = handler or commands.find(commands.COMMANDS, upper)
        if handler is not None and not self.sms_ready and upper.startswith(commands.SMS_COMMANDS):
            self._lines(self.family.not_ready)  # SMS not initialised yet after power-up
            self._pdu_mode_len = None  # no prompt follows: what comes next is a command
            return
        if handler is None:
            self._unknown()
            return
        done = handler(self, body)
        if inspect.isawaitable(done):
            await done

    def _unknown(self) -> None:
        self._lines(self.family.unknown)

    def _used(self, memory: str) -> int:
        return len(self._storage[memory])

    async def _submit(self, pdu: str) -> None:
        self.cmgs_written.append(pdu)
        reboot = self._reboot_due("PDU")
        if reboot == "before":  # the part never reaches the network
            await self.reboot(self.faults.reboot_silent)
            return
        self._boot_inside = reboot == "inside"
        await self._take(pdu)
        self._boot_inside = False
        if reboot == "inside":
            await self._silence(self.faults.reboot_silent)
        if reboot == "after":
            await self.reboot(self.faults.reboot_silent)

    async def _take(self, pdu: str) -> None:
        try:
            d = decodeSmsPdu(pdu)
        except Exception:
            self._lines("+CMS ERROR: 304")
            return
        number = str(d["number"])
        if self.faults.vanish_at and len(self.sent) + 1 >= self.faults.vanish_at:
            self.faults.vanish_at = 0
            await self.vanish()
            return
        self.submitting.set()
        unplugged = self._unplugged
        try:
            if self.submit_delay:
                await asyncio.sleep(self.submit_delay)
        finally:
            self.submitting.clear()
        if self._unplugged != unplugged:
            return  # pulled out while it was sending: the network never got the part
        if number in self.faults.hang_numbers:
            return
        code = self.faults.fail_numbers.get(number)
        if code is None and self.faults.fail_next:
            code = self.faults.fail_next.pop(0)
        if code is not None:
            self._lines(f"+CMS ERROR: {code}")
            return
        self._mr = (self._mr + 1) % 256
        concat = None
        for ie in d.get("udh", []) or []:
            if isinstance(ie, Concatenation):
                concat = (ie.reference, ie.parts, ie.number)
        part = SentPart(number, str(d.get("text", "")), self._mr, concat, pdu, asyncio.get_running_loop().time())
        self.sent.append(part)
        self._lines(f"+CMGS: {self._mr}", "OK")
        if self.auto_report:
            self.report(self._mr, number)
        await self._notify()
        if self.on_sent is not None and (concat is None or concat[2] == concat[1]):
            for message in self.messages():
                if message.references[-1] == part.reference and message.number == number:
                    self.on_sent(message)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- the phone side ----

    def _store(self, pdu: str, memory: str) -> int | None:
        """Store in `memory`; None when it is full (the network keeps the SMS and tries again)."""
        box = self._storage[memory]
        if len(box) >= self._capacity[memory]:
            return None
        index = next(i for i in range(1, 10_000) if i not in box)
        box[index] = pdu
        return index

    def deliver_pdu(self, pdu: str, *, mid_cmgs: bool = False, memory: str | None = None) -> None:
        """The network hands the modem one PDU; it is stored (in the receive memory, or `memory`) and
        announced by +CMTI; a full memory holds it back and says so, as the family does."""
        if not self.family.can_receive:
            return
        memory = memory or self.mem[2]
        index = self._store(pdu, memory)
        if index is None:
            was_full = bool(self._undelivered)
            self._undelivered.append(pdu)
            if not was_full and self.family.full_urc:
                self.urc(self.family.full_urc)
            return
        line = f'+CMTI: "{memory}",{index}'
        if (self.cnmi or "").startswith("0"):
            return  # notifications off (<mt> 0): stored, not announced
        if mid_cmgs:
            self._mid_cmgs.append(line)
        else:
            self.urc(line)

    def preload(self, memory: str, pdus: list[str]) -> None:
        """SMS left on the stick from before the gateway started: stored, never announced."""
        for pdu in pdus:
            self._store(pdu, memory)

    def _redeliver(self) -> None:
        while self._undelivered and any(self._used(m) < self._capacity[m] for m in (self.mem[2],)):
            self.deliver_pdu(self._undelivered.pop(0))

    def deliver(self, sender: str, text: str, *, mid_cmgs: bool = False, named: bool = False) -> list[str]:
        self._concat_ref = (self._concat_ref + 1) % 256
        pdus = deliver_pdus(sender, text, reference=self._concat_ref, smsc=self.smsc, named=named)
        for pdu in pdus:
            self.deliver_pdu(pdu, mid_cmgs=mid_cmgs)
        return pdus

    def report(self, reference: int, number: str | None = None, status: int = 0x00) -> None:
        """The network's delivery report for one sent part (status 0 = delivered)."""
        if not self.family.can_receive:
            return  # a phone without AT SMS reading hands no reports over either
        if number is None:
            number = next(p.number for p in reversed(self.sent) if p.reference == reference)
        pdu = status_report_pdu(reference, number, status, self.smsc)
        if self.family.reports == "cds" or (self.cnmi or "").startswith("2,1,0,1"):
            self._cds_queue.append(pdu)
            self._route_reports()
        else:
            memory = "SR" if "SR" in self._capacity else self.mem[2]
            index = self._store(pdu, memory)
            if index is not None:
                self.urc(f'+CDSI: "{memory}",{index}')

    def _route_reports(self) -> None:
        # TS 27.005 §3.4.4: after AT+CSMS=1 no other +CDS is sent before the last one is acknowledged
        while self._cds_queue and not (self.csms and self.unacked):
            pdu = self._cds_queue.pop(0)
            self._lines(f"+CDS: {tpdu_len(pdu)}")
            self._write(pdu.encode() + b"\r\n")
            if self.csms:
                self.unacked = 1

    def acknowledge(self) -> bool:
        """AT+CNMA: the last routed report is the gateway's; the next may come."""
        if not self.unacked:
            return False
        self.unacked = 0
        self.acked += 1
        self._route_reports()
        return True

    def sms_done(self) -> None:
        """The module finished initialising SMS after power-up and says so, as its family does."""
        self.sms_ready = True
        for line in self.family.sms_done:
            self.urc(line)

    def ring(self, number: str, *, mid_cmgs: bool = False, times: int = 10, every: float = 0.5) -> None:
        """`number` calls the modem's SIM: RING (and +CLIP, if enabled) until the gateway hangs up,
        or `times` rings (the caller gives up: NO CARRIER). A data-only stick never rings."""
        if not self.family.voice:
            return
        self.calls.append(number)
        clip = f'+CLIP: "{number}",{145 if number.startswith("+") else 129},"",0,"",0'
        if mid_cmgs:
            # said between the > prompt and the +CMGS answer; a caller who gives up at once says NO CARRIER
            self._mid_cmgs += ["RING", clip, "NO CARRIER"] if self.clip else ["RING", "NO CARRIER"]
            return
        self._ringing = asyncio.create_task(self._ring(clip, times, every), name="emulator-ring")

    async def _ring(self, clip: str, times: int, every: float) -> None:
        for _ in range(times):
            self.urc("RING")
            if self.clip:
                self.urc(clip)
            await asyncio.sleep(every)
        self.urc("NO CARRIER")

    def hang_up(self) -> None:
        """ATH / AT+CHUP: the call is rejected (free for the caller)."""
        if self._ringing is not None and not self._ringing.done():
            self._ringing.cancel()
        self._ringing = None
        self.hung_up += 1

    @property
    def stored(self) -> int:
        """SMS and reports on the stick, in every memory, and any the network holds back."""
        return sum(len(box) for box in self._storage.values()) + len(self._undelivered)

    def messages(self) -> list[SentMessage]:
        """What the phones received: concatenated parts joined, in the order they completed."""
        out: list[SentMessage] = []
        pending: dict[tuple[str, int, int], dict[int, SentPart]] = {}
        for part in self.sent:
            if part.concat is None:
                out.append(SentMessage(part.number, part.text, [part.reference]))
                continue
            ref, total, seq = part.concat
            group = pending.setdefault((part.number, ref, total), {})
            group[seq] = part
            if len(group) == total:
                ordered = [group[i] for i in sorted(group)]
                units = b"".join(p.text.encode("utf-16-be", "surrogatepass") for p in ordered)
                out.append(
                    SentMessage(
                        part.number,
                        units.decode("utf-16-be", "replace"),
                        [p.reference for p in ordered],
                    )
                )
                del pending[(part.number, ref, total)]
        return out

    async def wait_sent(self, count: int) -> list[SentMessage]:
        """Wait until the phones have received `count` whole messages. Bound it with a timeout."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.messages()) >= count)
        return self.messages()

"""An AT-command GSM modem on a pseudo-terminal, with a phone side and faults on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gsmmodem.pdu import (
    Concatenation,
    _encodeAddressField,
    _encodeTimestamp,
    decodeGsm7,
    decodeSmsPdu,
    encodeGsm7,
    packSeptets,
    unpackSeptets,
)

from gateway.sms.encoding import is_gsm7, split_gsm7, split_ucs2

log = logging.getLogger(__name__)
VN = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Family:
    """How one modem model answers: data, not branches. The recorded ones carry the answers of real
    modems as python-gsmmodem-new 0.13.0's test/fakemodems.py holds them (facts only, our code)."""

    name: str
    manufacturer: str
    model: str
    has_clac: bool = False
    reports: str = "cdsi"  # "cdsi": stored, announced by index; "cds": the PDU inline
    packed_ussd: bool = False  # Huawei: the USSD string is packed GSM-7 in hex
    unknown: str = "ERROR"  # what an unknown command gets (Huawei E1752: COMMAND NOT SUPPORT)
    curc: bool = False  # knows AT^CURC (Huawei)
    # the answer to AT+CPMS=? as recorded, or None: the modem has no AT+CPMS at all
    cpms_test: str | None = '+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")'
    memories: tuple[tuple[str, int], ...] = (("SM", 30), ("ME", 100), ("SR", 30))
    store_in: str = "SM"  # where a new SMS goes (survives power cycles on many sticks: may be ME)
    cpms_max_args: int = 3  # Wavecom refuses the three-memory form
    cnmi_refused: tuple[str, ...] = ()  # CNMI argument prefixes it answers ERROR to
    can_receive: bool = True  # Nokia phones: no AT+CNMI, AT+CMGL or AT+CMGR for SMS
    cpin_ok: bool = True  # Wavecom answers AT+CPIN? without OK
    busy_at_start: int = 0  # +CME ERROR: 515 to the first commands after it opens (Wavecom)
    sim_busy: tuple[str, ...] = ()  # commands answered +CME ERROR: 14 once (Qualcomm: AT+CSCA?)
    esc_error: bool = False  # answers ERROR to a lone ESC or an empty line
    ussd_mode: bool = False  # Huawei E1752: AT+CUSD refused until AT^USSDMODE=0 (text USSD)
    full_urc: str | None = None  # what it says when its SMS memory fills up
    answers_ussd: bool = True
    revision: str = "11.609.18.00.00"  # AT+CGMR


_ALL_MEMORIES = '+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")'
FAMILIES = {
    f.name: f
    for f in (
        Family("huawei", "huawei", "E3531", has_clac=True, packed_ussd=True, unknown="COMMAND NOT SUPPORT",
               curc=True, full_urc='^SMMEMFULL: "SM"'),
        Family("sim800", "SIMCOM_Ltd", "SIMCOM_SIM800L", reports="cds", cnmi_refused=("2,1,0,2",),
               esc_error=True, full_urc='+CIEV: "SMSFULL",1'),
        # recorded: Wavecom Multiband 900E 1800 (CPIN? without OK; two memories; 515 twice at start)
        Family("wavecom", " WAVECOM MODEM", " MULTIBAND  900E  1800",
               cpms_test='+CPMS: (("SM","BM","SR"),("SM"))', memories=(("SM", 50), ("SR", 20)), cpms_max_args=2,
               cpin_ok=False, busy_at_start=2),
        # recorded: Huawei K3715 (all four memories); this one was used elsewhere and stores in ME
        Family("k3715", "huawei", "K3715", has_clac=True, packed_ussd=True, curc=True, cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), store_in="ME", full_urc='^SMMEMFULL: "ME"'),
        # recorded: Huawei E1752 ("COMMAND NOT SUPPORT"; USSD only after AT^USSDMODE=0)
        Family("e1752", "huawei", "E1752", has_clac=True, unknown="COMMAND NOT SUPPORT", curc=True,
               cpms_test=_ALL_MEMORIES, memories=(("ME", 100), ("SM", 30), ("SR", 30)), ussd_mode=True),
        # recorded: Qualcomm M6280, a ZTE stick (SIM busy once on AT+CSCA?)
        Family("m6280", "QUALCOMM INCORPORATED", "M6280", cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), sim_busy=("AT+CSCA?",)),
        # recorded: ZTE K3565-Z (Vodafone)
        Family("k3565z", "ZTE INCORPORATED", "K3565-Z", cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), esc_error=True),
        # recorded: Nokia N79, a phone: sends SMS, cannot hand received SMS over AT (no CPMS, no CNMI)
        Family("n79", "Nokia", "Nokia N79", cpms_test="+CPMS: (),(),()", memories=(), can_receive=False,
               answers_ussd=False),
    )
}  # fmt: skip


@dataclass
class SentPart:
    number: str
    text: str
    reference: int
    concat: tuple[int, int, int] | None
    pdu: str
    at: float  # loop time the modem accepted it


@dataclass
class SentMessage:
    number: str
    text: str
    references: list[int]


# ---- PDUs as the network would hand them to a modem ------------------------------------------------


def _user_data(text: str, ucs2: bool, udh: bytes) -> tuple[int, bytes]:
    if ucs2:
        ud = text.encode("utf-16-be")
        return len(udh) + len(ud), udh + ud
    septets = encodeGsm7(text)
    if not udh:
        return len(septets), bytes(packSeptets(septets))
    # mirrors gsmmodem's own encoder, so its decoder reads our fill bits the same way
    shift = (len(udh) * 8) % 7
    length = len(septets) + (1 if shift else 0) + len(udh)
    return length, udh + bytes(packSeptets(septets, padBits=shift))


def deliver_pdus(
    sender: str,
    text: str,
    *,
    reference: int = 1,
    when: datetime | None = None,
    smsc: str = "+84980200030",
) -> list[str]:
    """SMS-DELIVER PDUs for a text from `sender`, split and concatenated like a phone would."""
    ucs2 = not is_gsm7(text)
    parts = split_ucs2(text) if ucs2 else split_gsm7(text)
    when = when or datetime.now(VN).replace(microsecond=0)
    out = []
    for i, part in enumerate(parts, start=1):
        udh = b""
        if len(parts) > 1:
            udh = bytes([0x05, 0x00, 0x03, reference % 256, len(parts), i])
        pdu = bytearray(_encodeAddressField(smsc, smscField=True))
        pdu.append(0x04 | (0x40 if udh else 0))
        pdu += _encodeAddressField(sender)
        pdu += bytes([0x00, 0x08 if ucs2 else 0x00])
        pdu += _encodeTimestamp(when)
        length, ud = _user_data(part, ucs2, udh)
        pdu.append(length)
        pdu += ud
        out.append(bytes(pdu).hex().upper())
    return out


def status_report_pdu(reference: int, number: str, status: int, smsc: str = "+84980200030") -> str:
    now = datetime.now(VN).replace(microsecond=0)
    pdu = bytearray(_encodeAddressField(smsc, smscField=True))
    pdu += bytes([0x06, reference])
    pdu += _encodeAddressField(number)
    pdu += _encodeTimestamp(now - timedelta(seconds=5))
    pdu += _encodeTimestamp(now)
    pdu.append(status)
    return bytes(pdu).hex().upper()


def _tpdu_len(pdu_hex: str) -> int:
    try:
        return len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16)
    except ValueError:
        return len(pdu_hex) // 2


# ---- the modem -------------------------------------------------------------------------------------


@dataclass
class Faults:
    silent: bool = False
    fail_numbers: dict[str, int] = field(default_factory=dict)  # number → +CMS ERROR code, every time
    fail_next: list[int] = field(default_factory=list)  # codes for the next submits, in order
    hang_numbers: set[str] = field(default_factory=set)  # a submit to these is never answered
    vanish_at: int = 0  # the stick is pulled as this part (counting all it sent, from 1) begins; 0 = never


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
        self.creg = 1  # +CREG stat: 1 home, 5 roaming, 2 searching, 3 denied, 0 not registered
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
        fam = self.family
        ok = "OK"
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
        if upper in ("", "Z"):
            if upper == "Z":
                self._reset_state()
            self._lines(ok)
        elif upper in ("E0", "E1"):
            self.echo = upper == "E1"
            self._lines(ok)
        elif upper.startswith("+CMEE"):
            self._lines(ok)
        elif upper == "+CPIN?":
            answer = "+CPIN: SIM PUK" if self.pin_puk else "+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN"
            self._lines(answer, ok) if fam.cpin_ok else self._lines(answer)
        elif upper.startswith("+CPIN="):
            given = body.split("=", 1)[1].strip('"')
            if given == self.pin:
                self.pin_ok = True
                self._lines(ok)
            else:
                self._lines("+CME ERROR: 16")
        elif not self.pin_ok:
            self._lines("+CME ERROR: 11")
        elif upper == "+CGMI":
            self._lines(fam.manufacturer, ok)
        elif upper == "+CGMM":
            self._lines(fam.model, ok)
        elif upper in ("+CGMR", "+GMR"):
            self._lines(fam.revision, ok)
        elif upper in ("+CGSN", "+GSN"):
            self._lines("861234567890123", ok)
        elif upper == "+CIMI":
            self._lines("452040123456789", ok)
        elif upper == "+CFUN?":
            self._lines("+CFUN: 1", ok)
        elif upper.startswith("+CFUN="):
            self._lines(ok)
        elif upper == "+CPAS":
            self._lines("+CPAS: 0", ok)
        elif upper == "+CLAC":
            self._lines("+CGMI", "+CGMM", "+CMGS", "+CUSD", "^CURC", ok) if fam.has_clac else self._lines("ERROR")
        elif upper.startswith("^CURC") and fam.curc:
            self.curc = upper.endswith("=1")
            self._lines(ok)
        elif upper.startswith("^PORTSEL") and fam.curc:
            # Huawei: which port sends the unsolicited lines; Gammu waits for this answer at start
            self._lines(ok)
        elif upper.startswith("^USSDMODE=") and fam.ussd_mode:
            self.ussd_text_mode = upper.endswith("=0")
            self._lines(ok)
        elif upper.startswith("+CMGF="):
            self.pdu_mode = upper.endswith("0")
            self._lines(ok)
        elif upper == "+CNMI=?" and fam.can_receive:
            self._lines("+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)", ok)
        elif upper.startswith("+CNMI="):
            args = upper.split("=", 1)[1]
            if not fam.can_receive or args.startswith(fam.cnmi_refused or ("\0",)):
                self._lines("ERROR")
            else:
                self.cnmi = args
                self._lines(ok)
        elif upper == "+CSCA?":
            self._lines(f'+CSCA: "{self.smsc}",145', ok)
        elif upper.startswith("+CSCA="):
            self.smsc = body.split("=", 1)[1].split(",")[0].strip('"')
            self._lines(ok)
        elif upper.startswith("+COPS=3,"):
            # 27.007: only the format of later +COPS? answers (0 long, 1 short, 2 numeric MCC+MNC)
            given = upper.split(",")[1][:1]
            self.cops_format = int(given) if given.isdigit() else 0
            self._lines(ok)
        elif upper.startswith("+COPS="):
            self._lines(ok)
        elif upper == "+COPS?":
            name = "45204" if self.cops_format == 2 else self.operator
            self._lines(f'+COPS: 0,{self.cops_format},"{name}",2', ok)
        elif upper == "+CREG?":
            where = ',"00A1","1B2C"' if self.creg_n == 2 and self.creg in (1, 5) else ""
            self._lines(f"+CREG: {self.creg_n},{self.creg}{where}", ok)
        elif upper.startswith("+CREG="):
            if upper[6:7].isdigit():
                self.creg_n = int(upper[6:7])
            self._lines(ok)
        elif upper == "+CGATT?":
            self._lines(f"+CGATT: {int(self.creg in (1, 5))}", ok)
        elif upper == "+CGREG?":
            self._lines(f"+CGREG: 0,{self.creg}", ok)
        elif upper.startswith("+CGREG="):
            self._lines(ok)
        elif upper == "+CCLK?":
            when = datetime.fromtimestamp(self.network_time(), VN) if self.network_time else datetime(2000, 1, 1)
            zone = "+28" if self.network_time else "+00"
            self._lines(f'+CCLK: "{when:%y/%m/%d,%H:%M:%S}{zone}"', ok)
        elif upper.startswith("+CTZU="):
            self._lines(ok)
        elif upper == "+CSQ":
            self._lines("+CSQ: 21,99", ok)
        elif upper == "+CSCS=?":
            self._lines('+CSCS: ("IRA","GSM","UCS2")', ok)
        elif upper == "+CSCS?":
            self._lines(f'+CSCS: "{self.cscs}"', ok)
        elif upper.startswith("+CSCS="):
            self.cscs = body.split("=", 1)[1].strip('"').upper()
            self._lines(ok)
        elif upper.startswith("+CMGS="):
            if not self.pdu_mode:
                self._lines("+CMS ERROR: 304")
                self._pdu_mode_len = None
                return
            self._write(b"\r\n> ")
            for line_ in self._mid_cmgs:
                self.urc(line_)
            self._mid_cmgs.clear()
        elif upper.startswith(("+CMGR=", "+CMGD=", "+CMGL")) and not fam.can_receive:
            self._lines("ERROR")
        elif upper.startswith("+CMGR="):
            pdu = self._storage[self.mem[0]].get(int(upper.split("=")[1]))
            if pdu is None:
                self._lines("+CMS ERROR: 321")  # invalid memory index: nothing there in this memory
            else:
                self._lines(f"+CMGR: 0,,{_tpdu_len(pdu)}", pdu, ok)
        elif upper.startswith("+CMGD="):
            self._storage[self.mem[0]].pop(int(upper.split("=")[1].split(",")[0]), None)
            self._lines(ok)
            self._redeliver()
        elif upper.startswith("+CMGL"):
            out = []
            for index, pdu in sorted(self._storage[self.mem[0]].items()):
                out += [f"+CMGL: {index},0,,{_tpdu_len(pdu)}", pdu]
            self._lines(*out, ok)
        elif upper.startswith("+CUSD="):
            await self._ussd(body)
        elif upper == "+CPMS=?" and fam.cpms_test is not None:
            self._lines(fam.cpms_test, ok)
        elif upper == "+CPMS?" and self._capacity:
            self._lines("+CPMS: " + ",".join(f'"{m}",{self._used(m)},{self._capacity[m]}' for m in self.mem), ok)
        elif upper.startswith("+CPMS=") and self._capacity:
            names = [x.strip().strip('"') for x in body.split("=", 1)[1].split(",")]
            if len(names) > fam.cpms_max_args or any(n not in self._capacity for n in names):
                self._lines("ERROR")
                return
            self.mem[: len(names)] = names
            self._lines("+CPMS: " + ",".join(f"{self._used(m)},{self._capacity[m]}" for m in self.mem), ok)
        else:
            self._lines(fam.unknown)

    def _used(self, memory: str) -> int:
        return len(self._storage[memory])

    async def _submit(self, pdu: str) -> None:
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

    async def _ussd(self, body: str) -> None:
        m = re.match(r'(?i)\+CUSD=(\d)(?:,"([^"]*)"(?:,(\d+))?)?', body)
        if m is None:
            self._lines("ERROR")
            return
        if m.group(1) == "2" or m.group(2) is None:
            # AT+CUSD=1 alone only turns the result codes on: no session, nothing comes back
            self._lines("OK")
            return
        code = m.group(2) or ""
        if self.family.ussd_mode and not self.ussd_text_mode:
            self._lines("ERROR")  # E1752 in its default ^USSDMODE=1
            return
        if not self.family.answers_ussd:
            self._lines("OK")  # and no +CUSD ever comes
            return
        if self.family.packed_ussd and re.fullmatch(r"[0-9A-Fa-f]+", code):
            code = str(decodeGsm7(unpackSeptets(bytearray(bytes.fromhex(code))))).rstrip("\r@")
        self._lines("OK")
        if self.cscs != "GSM" or code != "*101#":
            self.urc("+CUSD: 4")
            return
        answer = self.ussd_answer
        if not is_gsm7(answer):
            self.urc(f'+CUSD: 0,"{answer.encode("utf-16-be").hex().upper()}",72')
        elif self.family.packed_ussd and not self.ussd_text_mode:
            self.urc(f'+CUSD: 0,"{bytes(packSeptets(encodeGsm7(answer))).hex().upper()}",15')
        else:
            self.urc(f'+CUSD: 0,"{answer}",15')

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

    def deliver(self, sender: str, text: str, *, mid_cmgs: bool = False) -> list[str]:
        self._concat_ref = (self._concat_ref + 1) % 256
        pdus = deliver_pdus(sender, text, reference=self._concat_ref, smsc=self.smsc)
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
            self._lines(f"+CDS: {_tpdu_len(pdu)}")
            self._write(pdu.encode() + b"\r\n")
        else:
            memory = "SR" if "SR" in self._capacity else self.mem[2]
            index = self._store(pdu, memory)
            if index is not None:
                self.urc(f'+CDSI: "{memory}",{index}')

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

"""The emulated modem's AT commands: one small handler each, found by a dispatch table."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from gsmmodem.pdu import decodeGsm7, encodeGsm7, packSeptets, unpackSeptets

from gateway.sms.encoding import is_gsm7
from gateway.testing.emulator.pdus import VN, tpdu_len

if TYPE_CHECKING:
    from gateway.testing.emulator.modem import EmulatedModem

# a handler gets the modem and the command after "AT" as typed (its case kept: PINs, SMSC numbers)
Handler = Callable[["EmulatedModem", str], Awaitable[None] | None]
OK = "OK"


def _arg(body: str) -> str:
    return body.split("=", 1)[1]


def _ok(m: EmulatedModem, body: str) -> None:
    m._lines(OK)


def _reset(m: EmulatedModem, body: str) -> None:
    m._reset_state()
    m._lines(OK)


def _echo(m: EmulatedModem, body: str) -> None:
    m.echo = body.upper() == "E1"
    m._lines(OK)


def _cpin_query(m: EmulatedModem, body: str) -> None:
    answer = "+CPIN: SIM PUK" if m.pin_puk else "+CPIN: READY" if m.pin_ok else "+CPIN: SIM PIN"
    m._lines(answer, OK) if m.family.cpin_ok else m._lines(answer)


def _cpin_set(m: EmulatedModem, body: str) -> None:
    if _arg(body).strip('"') == m.pin:
        m.pin_ok = True
        m._lines(OK)
    else:
        m._lines("+CME ERROR: 16")


def _says(*lines: str) -> Handler:
    def handler(m: EmulatedModem, body: str) -> None:
        m._lines(*lines, OK)

    return handler


def _manufacturer(m: EmulatedModem, body: str) -> None:
    m._lines(m.family.manufacturer, OK)


def _model(m: EmulatedModem, body: str) -> None:
    m._lines(m.family.model, OK)


def _revision(m: EmulatedModem, body: str) -> None:
    m._lines(m.family.revision, OK)


def _clac(m: EmulatedModem, body: str) -> None:
    m._lines("+CGMI", "+CGMM", "+CMGS", "+CUSD", "^CURC", OK) if m.family.has_clac else m._unknown()


def _curc(m: EmulatedModem, body: str) -> None:
    if not m.family.curc:
        return m._unknown()
    m.curc = body.endswith("=1")
    m._lines(OK)


def _portsel(m: EmulatedModem, body: str) -> None:
    # Huawei: which port sends the unsolicited lines; Gammu waits for this answer at start
    m._lines(OK) if m.family.curc else m._unknown()


def _ussdmode(m: EmulatedModem, body: str) -> None:
    if not m.family.ussd_mode:
        return m._unknown()
    m.ussd_text_mode = body.endswith("=0")
    m._lines(OK)


def _cmgf(m: EmulatedModem, body: str) -> None:
    m.pdu_mode = body.endswith("0")
    m._lines(OK)


def _cnmi_test(m: EmulatedModem, body: str) -> None:
    if not m.family.can_receive:
        return _cnmi(m, body)
    m._lines("+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)", OK)


def _cnmi_query(m: EmulatedModem, body: str) -> None:
    if not m.family.can_receive:
        return m._lines("ERROR")
    m._lines(f"+CNMI: {m.cnmi or '0,0,0,0,0'}", OK)


def _cnmi(m: EmulatedModem, body: str) -> None:
    args = _arg(body).upper()
    if not m.family.can_receive or args.startswith(m.family.cnmi_refused or ("\0",)):
        m._lines("ERROR")
    else:
        m.cnmi = args
        m._lines(OK)


def _csca_query(m: EmulatedModem, body: str) -> None:
    m._lines(f'+CSCA: "{m.smsc}",145', OK)


def _csca_set(m: EmulatedModem, body: str) -> None:
    m.smsc = _arg(body).split(",")[0].strip('"')
    m._lines(OK)


def _cops_format(m: EmulatedModem, body: str) -> None:
    # 27.007: only the format of later +COPS? answers (0 long, 1 short, 2 numeric MCC+MNC)
    given = body.split(",")[1][:1]
    m.cops_format = int(given) if given.isdigit() else 0
    m._lines(OK)


def _cops_query(m: EmulatedModem, body: str) -> None:
    name = "45204" if m.cops_format == 2 else m.operator
    act = 7 if m.family.lte and m.cereg in (1, 5) else 2  # E-UTRAN, else UTRAN
    m._lines(f'+COPS: 0,{m.cops_format},"{name}",{act}', OK)


def _creg_query(m: EmulatedModem, body: str) -> None:
    where = ',"00A1","1B2C"' if m.creg_n == 2 and m.creg in (1, 5) else ""
    m._lines(f"+CREG: {m.creg_n},{m.creg}{where}", OK)


def _creg_set(m: EmulatedModem, body: str) -> None:
    given = _arg(body)[:1]
    if given.isdigit():
        m.creg_n = int(given)
    m._lines(OK)


def _cgatt_query(m: EmulatedModem, body: str) -> None:
    m._lines(f"+CGATT: {int(m.creg in (1, 5))}", OK)


def _cgreg_query(m: EmulatedModem, body: str) -> None:
    m._lines(f"+CGREG: 0,{m.cereg if m.family.lte else m.creg}", OK)


def _cereg_query(m: EmulatedModem, body: str) -> None:
    if not m.family.lte:
        return m._unknown()
    m._lines(f"+CEREG: 0,{m.cereg}", OK)


def _cereg_set(m: EmulatedModem, body: str) -> None:
    m._lines(OK) if m.family.lte else m._unknown()


def _csq(m: EmulatedModem, body: str) -> None:
    m._lines(m.family.csq, OK)


def _lte_signal(m: EmulatedModem, body: str) -> None:
    command, answer = m.family.lte_signal
    m._lines(answer, OK) if command.upper() == f"AT{body.upper()}" else m._unknown()


def _csms(m: EmulatedModem, body: str) -> None:
    # TS 27.005 §3.2.1: <service> 1 = phase 2+ (routed messages acknowledged with AT+CNMA)
    given = _arg(body).strip()
    if given == "1" and not m.family.cnma:
        return m._lines("+CMS ERROR: 303")  # operation not supported
    m.csms = int(given) if given.isdigit() else 0
    m._lines("+CSMS: 1,1,1", OK)


def _cnma(m: EmulatedModem, body: str) -> None:
    if not m.family.cnma:
        return m._unknown()
    m._lines(OK) if m.acknowledge() else m._lines("+CMS ERROR: 340")  # no acknowledgement expected


def _clip(m: EmulatedModem, body: str) -> None:
    if not m.family.voice:
        return m._unknown()
    m.clip = _arg(body).strip() == "1"
    m._lines(OK)


def _hang_up(m: EmulatedModem, body: str) -> None:
    m.hang_up()
    m._lines(OK)


def _cclk_query(m: EmulatedModem, body: str) -> None:
    when = datetime.fromtimestamp(m.network_time(), VN) if m.network_time else datetime(2000, 1, 1)
    zone = "+28" if m.network_time else "+00"
    m._lines(f'+CCLK: "{when:%y/%m/%d,%H:%M:%S}{zone}"', OK)


def _cscs_query(m: EmulatedModem, body: str) -> None:
    m._lines(f'+CSCS: "{m.cscs}"', OK)


def _cscs_set(m: EmulatedModem, body: str) -> None:
    m.cscs = _arg(body).strip('"').upper()
    m._lines(OK)


def _cmgs(m: EmulatedModem, body: str) -> None:
    if not m.pdu_mode:
        m._lines("+CMS ERROR: 304")
        m._pdu_mode_len = None
        return
    m._write(b"\r\n> ")
    for line in m._mid_cmgs:
        m.urc(line)
    m._mid_cmgs.clear()


def _cmgr(m: EmulatedModem, body: str) -> None:
    if not m.family.can_receive:
        return m._lines("ERROR")
    pdu = m._storage[m.mem[0]].get(int(_arg(body)))
    if pdu is None:
        m._lines("+CMS ERROR: 321")  # invalid memory index: nothing there in this memory
    else:
        m._lines(f"+CMGR: 0,,{tpdu_len(pdu)}", pdu, OK)


def _cmgd(m: EmulatedModem, body: str) -> None:
    if not m.family.can_receive:
        return m._lines("ERROR")
    m._storage[m.mem[0]].pop(int(_arg(body).split(",")[0]), None)
    m._lines(OK)
    m._redeliver()


def _cmgl(m: EmulatedModem, body: str) -> None:
    if not m.family.can_receive:
        return m._lines("ERROR")
    out = []
    for index, pdu in sorted(m._storage[m.mem[0]].items()):
        out += [f"+CMGL: {index},0,,{tpdu_len(pdu)}", pdu]
    m._lines(*out, OK)


def _cpms_test(m: EmulatedModem, body: str) -> None:
    m._lines(m.family.cpms_test, OK) if m.family.cpms_test is not None else _cpms_set(m, body)


def _cpms_query(m: EmulatedModem, body: str) -> None:
    if not m._capacity:
        return m._unknown()
    m._lines("+CPMS: " + ",".join(f'"{x}",{m._used(x)},{m._capacity[x]}' for x in m.mem), OK)


def _cpms_set(m: EmulatedModem, body: str) -> None:
    if not m._capacity:
        return m._unknown()
    names = [x.strip().strip('"') for x in _arg(body).split(",")]
    if len(names) > m.family.cpms_max_args or any(n not in m._capacity for n in names):
        return m._lines("ERROR")
    m.mem[: len(names)] = names
    m._lines("+CPMS: " + ",".join(f"{m._used(x)},{m._capacity[x]}" for x in m.mem), OK)


async def _cusd(m: EmulatedModem, body: str) -> None:
    match = re.match(r'(?i)\+CUSD=(\d)(?:,"([^"]*)"(?:,(\d+))?)?', body)
    if match is None:
        return m._lines("ERROR")
    if match.group(1) == "2" or match.group(2) is None:
        # AT+CUSD=1 alone only turns the result codes on: no session, nothing comes back
        return m._lines(OK)
    code = match.group(2) or ""
    fam = m.family
    if fam.ussd_mode and not m.ussd_text_mode:
        return m._lines("ERROR")  # E1752 in its default ^USSDMODE=1
    if not fam.answers_ussd:
        return m._lines(OK)  # and no +CUSD ever comes
    if fam.packed_ussd and re.fullmatch(r"[0-9A-Fa-f]+", code):
        code = str(decodeGsm7(unpackSeptets(bytearray(bytes.fromhex(code))))).rstrip("\r@")
    m._lines(OK)
    if m.cscs != "GSM" or code != "*101#":
        return m.urc("+CUSD: 4")
    answer = m.ussd_answer
    if not is_gsm7(answer):
        m.urc(f'+CUSD: 0,"{answer.encode("utf-16-be").hex().upper()}",72')
    elif fam.packed_ussd and not m.ussd_text_mode:
        m.urc(f'+CUSD: 0,"{bytes(packSeptets(encodeGsm7(answer))).hex().upper()}",15')
    else:
        m.urc(f'+CUSD: 0,"{answer}",15')


# what a module answers `family.not_ready` to until it said SMS DONE
SMS_COMMANDS = ("+CMGS", "+CMGR", "+CMGL", "+CMGD", "+CPMS", "+CNMI", "+CSMS", "+CNMA", "+CSCA")
# answered whatever the SIM's state (the PIN is not asked yet)
BEFORE_PIN: dict[str, Handler] = {
    "": _ok,
    "Z": _reset,
    "E0": _echo,
    "E1": _echo,
    "+CMEE*": _ok,
    "+CPIN?": _cpin_query,
    "+CPIN=": _cpin_set,
}
# the rest; an entry ending in "=" (or a prefix like "+COPS=3,") takes every command it begins
COMMANDS: dict[str, Handler] = {
    "+CGMI": _manufacturer,
    "+CGMM": _model,
    "+CGMR": _revision,
    "+GMR": _revision,
    "+CGSN": _says("861234567890123"),
    "+GSN": _says("861234567890123"),
    "+CIMI": _says("452040123456789"),
    "+CFUN?": _says("+CFUN: 1"),
    "+CFUN=": _ok,
    "+CPAS": _says("+CPAS: 0"),
    "+CLAC": _clac,
    "^CURC*": _curc,
    "^PORTSEL*": _portsel,
    "^USSDMODE=": _ussdmode,
    "+CMGF=": _cmgf,
    "+CNMI=?": _cnmi_test,
    "+CNMI?": _cnmi_query,
    "+CNMI=": _cnmi,
    "+CSCA?": _csca_query,
    "+CSCA=": _csca_set,
    "+COPS=3,": _cops_format,
    "+COPS=": _ok,
    "+COPS?": _cops_query,
    "+CREG?": _creg_query,
    "+CREG=": _creg_set,
    "+CGATT?": _cgatt_query,
    "+CGREG?": _cgreg_query,
    "+CGREG=": _ok,
    "+CCLK?": _cclk_query,
    "+CTZU=": _ok,
    "+CSQ": _csq,
    "+CEREG?": _cereg_query,
    "+CEREG=": _cereg_set,
    "+CESQ": _lte_signal,
    "+QCSQ": _lte_signal,
    "^HCSQ?": _lte_signal,
    "+CSMS=": _csms,
    "+CNMA": _cnma,
    "+CLIP=": _clip,
    "H": _hang_up,
    "H0": _hang_up,
    "+CHUP": _hang_up,
    "+CSCS=?": _says('+CSCS: ("IRA","GSM","UCS2")'),
    "+CSCS?": _cscs_query,
    "+CSCS=": _cscs_set,
    "+CMGS=": _cmgs,
    "+CMGR=": _cmgr,
    "+CMGD=": _cmgd,
    "+CMGL*": _cmgl,
    "+CUSD=": _cusd,
    "+CPMS=?": _cpms_test,
    "+CPMS?": _cpms_query,
    "+CPMS=": _cpms_set,
}


def find(table: dict[str, Handler], upper: str) -> Handler | None:
    """The handler of a command: its exact entry, else the longest entry ending in "=", "," or "*"
    (a prefix: "*" marks one that takes whatever follows) that begins it."""
    if upper in table:
        return table[upper]
    prefixes = [k for k in table if k.endswith(("=", ",", "*")) and upper.startswith(k.rstrip("*"))]
    return table[max(prefixes, key=len)] if prefixes else None

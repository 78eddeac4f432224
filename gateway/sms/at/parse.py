"""Pure parsers of what a modem says: no port, no state (network time, stored PDUs, USSD, final results)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from gsmmodem.pdu import decodeGsm7, unpackSeptets

from gateway.core.errors import ModemError

FINAL_OK = ("OK",)
FINAL_ERROR = ("ERROR", "+CMS ERROR:", "+CME ERROR:", "COMMAND NOT SUPPORT", "NO CARRIER")
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming",
                6: "home", 7: "roaming", 8: "emergency only", 9: "home", 10: "roaming"}  # fmt: skip
# +COPS <AcT> (TS 27.007 §7.3) → the radio: GSM (2G), UTRAN (3G), E-UTRAN (4G), NR (5G)
ACCESS = {0: "GSM", 1: "GSM", 2: "UTRAN", 3: "GSM", 4: "UTRAN", 5: "UTRAN", 6: "UTRAN", 7: "E-UTRAN",
          8: "GSM", 9: "E-UTRAN", 10: "E-UTRAN", 11: "NR", 12: "NR", 13: "E-UTRAN"}  # fmt: skip
COPS_ACT = re.compile(r'^\+COPS:\s*\d+\s*,\s*\d+\s*,\s*"[^"]*"\s*,\s*(\d+)')
CESQ = re.compile(r"^\+CESQ:\s*(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
# Quectel +QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq> in dBm/dB; Huawei ^HCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>
# as indexes (rsrp -140+n dBm, rsrq -19.5+n/2 dB)
QCSQ = re.compile(r'^\+QCSQ:\s*"(\w+)"(?:,(-?\d+),(-?\d+)(?:,(-?\d+),(-?\d+))?)?')
HCSQ = re.compile(r'^\^HCSQ:\s*"(\w+)"(?:,(\d+),(\d+)(?:,(\d+),(\d+))?)?')
INDEX = re.compile(r'^\+C(?:MTI|DSI):\s*"?(\w+)"?\s*,\s*(\d+)')
CCLK = re.compile(r'^\+CCLK:\s*"(\d{2})/(\d{2})/(\d{2}),(\d{2}):(\d{2}):(\d{2})([+-]\d{1,2})?"')
CREG = re.compile(r"^\+CREG:\s*(?:\d+\s*,\s*)?(\d+)")
# +CREG (circuit-switched), +CGREG (GPRS), +CEREG (EPS: LTE), +C5GREG (5G): the answer "<n>,<stat>,…"
# and the URC "<stat>,…" alike (TS 27.007 §7.2, §10.1.20, §10.1.22, §10.1.74)
ANY_REG = re.compile(r"^\+C(|G|E|5G)REG:\s*(\d+)(?:\s*,\s*(\d+))?")
DOMAINS = {"": "cs", "G": "ps", "E": "eps", "5G": "5gs"}
REG_COMMANDS = {"cs": "CREG", "ps": "CGREG", "eps": "CEREG", "5gs": "C5GREG"}
# stat values that mean "on a network that carries SMS": home, roaming, and LTE's "SMS only" and
# "CSFB not preferred" (TS 27.007 §10.1.22)
ON_NETWORK = frozenset({1, 5, 6, 7, 9, 10})
HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
CMGS = re.compile(r"^\+CMGS:\s*(\d+)")
CSQ = re.compile(r"^\+CSQ:\s*(\d+)")
RSSI = re.compile(r"^\^RSSI:\s*(\d+)")
COPS = re.compile(r'^\+COPS:\s*\d+(?:\s*,\s*\d+\s*,\s*"([^"]*)")?')
CSCA = re.compile(r'^\+CSCA:\s*"([^"]*)"')
CUSD = re.compile(r'^\+CUSD:\s*(\d+)(?:\s*,\s*"([^"]*)"(?:\s*,\s*(\d+))?)?')
CODE = re.compile(r"(\d+)")

# +CMS ERROR codes after which sending the same PDU again cannot help (3GPP TS 27.005 §3.2.5,
# TS 24.011 E-2): unassigned number, barred, invalid PDU, SIM refused.
PERMANENT_CMS = frozenset({1, 8, 10, 21, 29, 96, 304, 305})


def registration(line: str) -> tuple[str, int] | None:
    """'+CEREG: 0,1' or the URC '+CEREG: 1,"1A2B",…' → ("eps", 1); None for any other line."""
    m = ANY_REG.match(line)
    if m is None:
        return None
    domain = DOMAINS[m.group(1)]
    # the answer has <n> first then <stat>; a URC has <stat> first, then a quoted area code
    rest = line.split(":", 1)[1].split(",")
    answer = len(rest) >= 2 and rest[1].strip().isdigit()
    return domain, int(m.group(3) if answer and m.group(3) else m.group(2))


def lte_signal(line: str) -> tuple[int | None, float | None]:
    """(RSRP dBm, RSRQ dB) from +CESQ, +QCSQ or ^HCSQ on LTE; (None, None) when unknown or not LTE."""
    if m := CESQ.match(line):
        rsrq, rsrp = int(m.group(5)), int(m.group(6))
        return (None if rsrp == 255 else rsrp - 140), (None if rsrq == 255 else rsrq / 2 - 20)
    if (m := QCSQ.match(line)) and m.group(1) == "LTE" and m.group(3):
        return int(m.group(3)), float(m.group(5)) if m.group(5) else None
    if (m := HCSQ.match(line)) and m.group(1) == "LTE" and m.group(3):
        index, quality = int(m.group(3)), m.group(5)
        return (None if index == 255 else index - 140), (None if quality in (None, "255") else int(quality) / 2 - 19.5)
    return None, None


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
    """A USSD code as packed GSM-7 in hex (what Huawei sticks expect in their default mode)."""
    from gsmmodem.pdu import encodeGsm7, packSeptets

    return bytes(packSeptets(encodeGsm7(code))).hex().upper()


def network_time(line: str) -> float | None:
    """'+CCLK: "26/11/27,17:10:46+28"' (local time, the zone in quarter hours) → a timestamp; None
    for anything else, and for a modem clock the network never set (it counts from 2000 or 1980)."""
    m = CCLK.match(line)
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
            if HEX.fullmatch(candidate) and (tpdu is None or len(candidate) == 2 * (1 + int(candidate[:2], 16) + tpdu)):
                return candidate
        return None
    return None


def check(cmd: str, final: str, lines: list[str]) -> list[str]:
    """The answer's lines after a final OK; a ModemError (permanent or not) after an error."""
    if final in FINAL_OK:
        return lines
    m = CODE.search(final)
    code = int(m.group(1)) if m else None
    permanent = final.startswith("+CMS ERROR:") and code in PERMANENT_CMS
    raise ModemError(f"{cmd.split('=')[0]} → {final}", code=code, transient=not permanent)


def first(lines: list[str]) -> str | None:
    """The first line of an answer, stripped."""
    return lines[0].strip() if lines else None


def match(pattern: re.Pattern[str], lines: list[str]) -> str | None:
    """The first group of the first line `pattern` matches."""
    for line in lines:
        m = pattern.match(line)
        if m:
            return m.group(1)
    return None

"""Pure parsers of what a modem says: no port, no state (network time, stored PDUs, USSD, final results)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from gsmmodem.pdu import decodeGsm7, unpackSeptets

from gateway.core.errors import ModemError

FINAL_OK = ("OK",)
FINAL_ERROR = ("ERROR", "+CMS ERROR:", "+CME ERROR:", "COMMAND NOT SUPPORT", "NO CARRIER")
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}
INDEX = re.compile(r'^\+C(?:MTI|DSI):\s*"?(\w+)"?\s*,\s*(\d+)')
CCLK = re.compile(r'^\+CCLK:\s*"(\d{2})/(\d{2})/(\d{2}),(\d{2}):(\d{2}):(\d{2})([+-]\d{1,2})?"')
CREG = re.compile(r"^\+CREG:\s*(?:\d+\s*,\s*)?(\d+)")
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

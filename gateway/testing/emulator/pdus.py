"""PDUs as the network would hand them to a modem (SMS-DELIVER, SMS-STATUS-REPORT), and what a phone received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gsmmodem.pdu import _encodeAddressField, _encodeTimestamp, encodeGsm7, packSeptets

from gateway.sms.encoding import is_gsm7, split_gsm7, split_ucs2

VN = timezone(timedelta(hours=7))


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
    named: bool = False,
) -> list[str]:
    """SMS-DELIVER PDUs for a text from `sender`, split and concatenated like a phone would; `named`:
    the sender is alphanumeric (TON 101) whatever it spells, as a bulk-SMS route lets a customer choose."""
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
        pdu += _name_field(sender) if named else _encodeAddressField(sender)
        pdu += bytes([0x00, 0x08 if ucs2 else 0x00])
        pdu += _encodeTimestamp(when)
        length, ud = _user_data(part, ucs2, udh)
        pdu.append(length)
        pdu += ud
        out.append(bytes(pdu).hex().upper())
    return out


def _name_field(name: str) -> bytes:
    """An alphanumeric TP-OA: the name's GSM-7 septets packed, its length in useful semi-octets."""
    packed = bytes(packSeptets(encodeGsm7(name)))
    return bytes([(len(name) * 7 + 3) // 4, 0xD0]) + packed


def status_report_pdu(reference: int, number: str, status: int, smsc: str = "+84980200030") -> str:
    now = datetime.now(VN).replace(microsecond=0)
    pdu = bytearray(_encodeAddressField(smsc, smscField=True))
    pdu += bytes([0x06, reference])
    pdu += _encodeAddressField(number)
    pdu += _encodeTimestamp(now - timedelta(seconds=5))
    pdu += _encodeTimestamp(now)
    pdu.append(status)
    return bytes(pdu).hex().upper()


def tpdu_len(pdu_hex: str) -> int:
    try:
        return len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16)
    except ValueError:
        return len(pdu_hex) // 2

"""SMS PDUs: build SMS-SUBMITs and decode what the modem hands us, on python-gsmmodem-new's codec."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from gsmmodem.exceptions import EncodingError
from gsmmodem.pdu import Concatenation, _encodeAddressField, decodeSmsPdu, encodeSmsSubmitPdu

from gateway.core.errors import InvalidRequest
from gateway.sms.encoding import Prepared

_NUMBER = re.compile(r"^\+?\d{3,20}$")


class PduError(ValueError):
    """A PDU from the modem that cannot be decoded."""


@dataclass(frozen=True)
class SubmitPdu:
    hex: str
    tpdu_length: int
    # (number, text, UDH) of a UCS-2 part, for a transport that sends text (SMPP) rather than the PDU
    part: tuple[str, str, bytes] | None = None
    # the whole message's text, for a transport that sends whole texts and splits them itself (HiLink)
    whole: str = ""


def build_submit(number: str, prepared: Prepared, *, concat_ref: int, status_report: bool) -> list[SubmitPdu]:
    """One SMS-SUBMIT per part; TP-MR is left 0 for the modem to assign (it answers it in +CMGS)."""
    if not _NUMBER.match(number):
        raise InvalidRequest(f"Số điện thoại không hợp lệ: {number!r} (invalid number)", field="to")
    if prepared.encoding == "gsm7":
        pdus = encodeSmsSubmitPdu(number, prepared.body, reference=concat_ref % 256, requestStatusReport=status_report)
        out = [SubmitPdu(bytes(p.data).hex().upper(), p.tpduLength) for p in pdus]
    else:
        out = _build_ucs2(number, prepared.parts, concat_ref % 256, status_report)
    if len(out) != prepared.segments:
        raise AssertionError(f"encoder made {len(out)} parts, counted {prepared.segments}")
    return [dataclasses.replace(p, whole=prepared.body) for p in out]


def _build_ucs2(number: str, parts: tuple[str, ...], ref: int, srr: bool) -> list[SubmitPdu]:
    # gsmmodem's encodeSmsSubmitPdu cannot force UCS-2 and raises on emoji, so UCS-2 is built here
    # from its address encoder; parts were already cut on surrogate-pair boundaries.
    first = 0x01 | (0x20 if srr else 0) | (0x40 if len(parts) > 1 else 0)
    out = []
    for i, text in enumerate(parts, start=1):
        pdu = bytearray([0x00, first, 0x00])
        pdu += _encodeAddressField(number)
        pdu += bytes([0x00, 0x08])
        ud = text.encode("utf-16-be")
        udh = bytes([0x05, 0x00, 0x03, ref, len(parts), i]) if len(parts) > 1 else b""
        pdu.append(len(udh) + len(ud))
        pdu += udh + ud
        out.append(SubmitPdu(bytes(pdu).hex().upper(), len(pdu) - 1, (number, text, udh)))
    return out


@dataclass(frozen=True)
class InboundPart:
    """One SMS-DELIVER. `units` is its text as UTF-16-BE, so half an emoji survives until reassembly."""

    sender: str
    units: bytes
    sent_at: datetime | None
    concat: tuple[int, int, int] | None  # (reference, total, sequence)
    digest: str
    # the sender is a name (TON alphanumeric, 3GPP TS 23.040 §9.1.2.5), whatever it spells: never a
    # number to confirm, subscribe, opt out or reply to, even when it reads "0912000001"
    alphanumeric: bool = False


@dataclass(frozen=True)
class StatusReport:
    reference: int
    number: str
    status: int
    discharged_at: datetime | None

    @property
    def delivered(self) -> bool:
        return self.status < 0x20

    @property
    def final(self) -> bool:
        # 0x20–0x3F: the SMSC is still trying; anything else ends it
        return not 0x20 <= self.status < 0x40


def _decode(pdu_hex: str) -> dict[str, object]:
    try:
        result: dict[str, object] = decodeSmsPdu(pdu_hex.strip())
    except (EncodingError, ValueError, StopIteration, IndexError, TypeError, KeyError) as e:
        raise PduError(f"undecodable PDU {pdu_hex[:60]!r}: {e}") from e
    return result


def decode_deliver(pdu_hex: str) -> InboundPart:
    d = _decode(pdu_hex)
    if d.get("type") != "SMS-DELIVER":
        raise PduError(f"expected SMS-DELIVER, got {d.get('type')}")
    text = str(d.get("text", ""))
    concat = None
    for ie in d.get("udh", []) or []:  # type: ignore[attr-defined]
        if isinstance(ie, Concatenation):
            concat = (int(ie.reference), int(ie.parts), int(ie.number))
    sent_at = d.get("time")
    # the decoder gives one char per UTF-16 unit: halves of a surrogate pair stay separate chars
    units = text.encode("utf-16-be", "surrogatepass")
    tpdu = pdu_hex.strip().upper()[2 + 2 * int(pdu_hex[:2], 16) :]
    return InboundPart(
        sender=str(d.get("number") or ""),
        units=units,
        sent_at=sent_at if isinstance(sent_at, datetime) else None,
        concat=concat,
        digest=hashlib.sha256(tpdu.encode()).hexdigest(),
        alphanumeric=_sender_is_name(tpdu),
    )


def _sender_is_name(tpdu: str) -> bool:
    """TP-OA's type of number (the octet after the first octet and the address length) is 101."""
    try:
        return (int(tpdu[4:6], 16) & 0x70) == 0x50
    except ValueError:
        return False


def decode_report(pdu_hex: str) -> StatusReport:
    d = _decode(pdu_hex)
    if d.get("type") != "SMS-STATUS-REPORT":
        raise PduError(f"expected SMS-STATUS-REPORT, got {d.get('type')}")
    discharged = d.get("discharge")
    return StatusReport(
        reference=int(d["reference"]),  # type: ignore[call-overload]
        number=str(d.get("number") or ""),
        status=int(d["status"]),  # type: ignore[call-overload]
        discharged_at=discharged if isinstance(discharged, datetime) else None,
    )


def units_to_text(units: bytes) -> str:
    """Join UTF-16 units back into text; a pair cut across parts is whole again, a lone half is �."""
    return units.decode("utf-16-be", "replace")

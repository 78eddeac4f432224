"""SMS text encoding: GSM-7 or UCS-2, Vietnamese diacritic folding, and splitting into parts."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from gsmmodem.pdu import GSM7_BASIC, GSM7_EXTENDED, divideTextGsm7

from gateway.core.errors import InvalidRequest
from gateway.core.text import fold as fold  # the "gsm7" policy: part of this module's interface

Policy = Literal["auto", "ucs2", "gsm7"]
Encoding = Literal["gsm7", "ucs2"]
POLICIES: tuple[Policy, ...] = ("auto", "ucs2", "gsm7")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67
MAX_PARTS = 10  # past this a phone may refuse to reassemble, and the commune pays for ten SMS

_GSM7 = frozenset(GSM7_BASIC) | frozenset(GSM7_EXTENDED)


def is_gsm7(text: str) -> bool:
    return all(c in _GSM7 for c in text)


def septets(text: str) -> int:
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def split_ucs2(text: str) -> list[str]:
    """Parts of at most 67 UTF-16 units, never cutting an emoji's surrogate pair in two."""
    if utf16_units(text) <= UCS2_SINGLE:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    units = 0
    for c in text:
        width = 2 if ord(c) > 0xFFFF else 1
        if units + width > UCS2_PART:
            parts.append("".join(current))
            current, units = [], 0
        current.append(c)
        units += width
    if current:
        parts.append("".join(current))
    return parts


def split_gsm7(text: str) -> list[str]:
    if septets(text) <= GSM7_SINGLE:
        return [text]
    # the same splitter the PDU encoder uses, so the count we bill is the count we send
    return list(divideTextGsm7(text))


@dataclass(frozen=True)
class Prepared:
    """What will actually be sent for a text under a policy."""

    original: str
    body: str
    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def segments(self) -> int:
        return len(self.parts)

    @property
    def folded(self) -> bool:
        return self.body != self.original


def prepare(text: str, policy: Policy) -> Prepared:
    text = unicodedata.normalize("NFC", text)
    if not text.strip():
        raise InvalidRequest("Nội dung tin nhắn trống (empty text)", field="text")
    body = fold(text) if policy == "gsm7" else text
    encoding: Encoding = "gsm7" if policy != "ucs2" and is_gsm7(body) else "ucs2"
    parts = split_gsm7(body) if encoding == "gsm7" else split_ucs2(body)
    if len(parts) > MAX_PARTS:
        raise InvalidRequest(f"Tin nhắn quá dài: {len(parts)} phần, tối đa {MAX_PARTS} (text too long)", field="text")
    return Prepared(original=text, body=body, encoding=encoding, parts=tuple(parts))

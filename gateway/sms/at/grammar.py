"""What may reach an AT command line: each value checked against its grammar here, and every line
written to the modem checked as one command, so a value can never add a command of its own."""

from __future__ import annotations

import re

from gateway.core.errors import InvalidRequest

# 3GPP TS 22.030 §6.5: a USSD string is made of the keypad's digits, * and #
USSD = re.compile(r"[0-9*#]{1,64}")
NUMBER = re.compile(r"\+?[0-9]{3,20}")  # an SMS centre's address (AT+CSCA)
PIN = re.compile(r"[0-9]{4,8}")  # TS 27.007 AT+CPIN: 4 to 8 digits
MEMORY = re.compile(r"[A-Z]{2}")  # TS 27.005 <mem>: "SM", "ME", "MT", "SR", "BM"
HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){1,400}")  # a PDU, or a USSD code packed in GSM 7-bit
KINDS = {"ussd": USSD, "number": NUMBER, "pin": PIN, "memory": MEMORY, "hex": HEX}
# one command: AT, then printable ASCII; quotes in pairs, no ';' (the separator of a second command)
# outside them, nothing but printable ASCII inside them (TS 27.007 §4.1, V.250 §5.2.1)
_BARE = r"[\x20\x21\x23-\x3A\x3C-\x7E]"
_QUOTED = r'"[\x20\x21\x23-\x7E]*"'
LINE = re.compile(rf"(?:AT|at){_BARE}*(?:{_QUOTED}{_BARE}*)*")


def value(kind: str, text: str, field: str = "code") -> str:
    """`text` when it is a `kind` ("ussd", "number", "pin", "memory", "hex"), else a clear refusal."""
    if not isinstance(text, str) or not KINDS[kind].fullmatch(text):
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        what = {
            "ussd": "Mã USSD chỉ gồm chữ số, * và # (USSD: digits, * and # only)",
            "number": "Số tổng đài tin nhắn chỉ gồm chữ số (SMSC: digits only)",
            "pin": "Mã PIN là 4 đến 8 chữ số (PIN: 4 to 8 digits)",
            "memory": "Bộ nhớ tin nhắn là hai chữ cái (SMS memory: two letters)",
            "hex": "Dữ liệu phải là số thập lục phân (hex only)",
        }[kind]
        raise InvalidRequest(f"{what}: {shown!r}", field=field)
    return text


def quoted(kind: str, text: str, field: str = "code") -> str:
    """The value checked, in the quotes an AT command takes a string in."""
    return f'"{value(kind, text, field)}"'


def line(cmd: str) -> str:
    """Every line written to the modem: one command, nothing a value smuggled in."""
    if not LINE.fullmatch(cmd):
        raise InvalidRequest(f"không phải một lệnh AT hợp lệ: {cmd[:60]!r} (not one AT command)", field="command")
    return cmd

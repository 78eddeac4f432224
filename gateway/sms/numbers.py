"""Phone numbers: Vietnamese mobile numbers to E.164, and which senders may be answered."""

from __future__ import annotations

import re

import phonenumbers

from gateway.errors import InvalidRequest


def normalise(number: str) -> str:
    """'0912 345 678', '84912345678' or '+84912345678' → '+84912345678'; anything else is refused."""
    raw = re.sub(r"[\s.\-()]", "", str(number))
    if re.fullmatch(r"84\d{9}", raw):
        raw = "+" + raw
    try:
        parsed = phonenumbers.parse(raw, "VN")
    except phonenumbers.NumberParseException:
        parsed = None
    if (
        parsed is None
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.region_code_for_number(parsed) != "VN"
        or phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise InvalidRequest(
            f"Số điện thoại không hợp lệ: {number!r} — cần số di động Việt Nam, "
            "ví dụ 0912345678 (invalid number)",
            field="to",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def key(number: str) -> str:
    """The last nine digits: how a delivery report's number is matched whatever its format."""
    return re.sub(r"\D", "", number)[-9:]


def can_reply(sender: str) -> bool:
    """Never auto-reply to a short code or an alphanumeric sender: it costs and reaches no one."""
    digits = sender.lstrip("+")
    return digits.isdigit() and len(digits) >= 9

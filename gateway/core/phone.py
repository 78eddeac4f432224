"""Phone numbers: Vietnamese mobile numbers to E.164, and which senders may be answered."""

from __future__ import annotations

import re

import phonenumbers

from gateway.core.errors import InvalidRequest

# The 2018 conversion of 11-digit mobile numbers: old prefix → new, the last 7 digits kept.
OLD_PREFIXES = {
    **{f"016{d}": f"03{d}" for d in "23456789"},
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    "0186": "056",
    "0188": "058",
    "0199": "059",
}


# Mobile prefixes (the national number's first 2 digits after 0) of each carrier. Numbers are portable:
# the prefix is a guess, good enough to choose which SIM sends (on-net is cheaper), never a refusal.
CARRIERS = {
    "viettel": ("86", "96", "97", "98", "32", "33", "34", "35", "36", "37", "38", "39"),
    "vinaphone": ("88", "91", "94", "81", "82", "83", "84", "85"),
    "mobifone": ("89", "90", "93", "70", "76", "77", "78", "79"),
    "vietnamobile": ("92", "52", "56", "58"),
    "gmobile": ("99", "59"),
    "itel": ("87",),
}
_CARRIER_OF = {prefix: name for name, prefixes in CARRIERS.items() for prefix in prefixes}


def carrier(number: str) -> str | None:
    """The carrier a Vietnamese mobile number's prefix belongs to ('+84961234567' → 'viettel')."""
    digits = re.sub(r"\D", "", number)
    national = digits[2:] if digits.startswith("84") and len(digits) == 11 else digits.lstrip("0")
    return _CARRIER_OF.get(national[:2]) if len(national) == 9 else None


def convert_old(number: str) -> tuple[str, bool]:
    """An old 11-digit number from a paper list → its new 10-digit form, and whether it changed."""
    raw = re.sub(r"[\s.\-()]", "", str(number))
    if re.fullmatch(r"(?:\+?84|0)1\d{9}", raw):
        national = "0" + raw[-10:]
        new = OLD_PREFIXES.get(national[:4])
        if new is not None:
            return new + national[4:], True
    return number, False


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
            f"Số điện thoại không hợp lệ: {number!r} — cần số di động Việt Nam, ví dụ 0912345678 (invalid number)",
            field="to",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def key(number: str) -> str:
    """The last nine digits: how a delivery report's number is matched whatever its format."""
    return re.sub(r"\D", "", number)[-9:]


def can_reply(sender: str) -> bool:
    """Only a Vietnamese mobile number is answered: a short code, a name, a 1900 or a foreign number
    costs (sometimes dearly) and reaches no one who asked."""
    try:
        normalise(sender)
    except InvalidRequest:
        return False
    return True

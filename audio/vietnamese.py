"""Vietnamese text made speakable: numbers, times, dates, money, ranges, units, phones, abbreviations."""

from __future__ import annotations

import re
from collections.abc import Mapping

DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
SCALES = ["", "nghìn", "triệu", "tỷ"]
UNITS = {
    "km": "ki lô mét", "kg": "ki lô gam", "cm": "xăng ti mét", "mm": "mi li mét", "m2": "mét vuông",
    "m²": "mét vuông", "m3": "mét khối", "ha": "héc ta", "m": "mét", "g": "gam", "l": "lít",
    "%": "phần trăm", "°c": "độ C", "độ": "độ",
}  # fmt: skip
DEFAULT_ABBREVIATIONS = {
    "UBND": "Ủy ban nhân dân", "HĐND": "Hội đồng nhân dân", "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân", "BHYT": "bảo hiểm y tế", "BHXH": "bảo hiểm xã hội",
    "PCCC": "phòng cháy chữa cháy", "MTTQ": "Mặt trận Tổ quốc", "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông", "TP": "thành phố", "SĐT": "số điện thoại", "ĐT": "điện thoại",
    "CA": "công an", "QĐ": "quyết định", "TB": "thông báo", "VNeID": "vê en e ai đi",
    "COVID": "cô vít", "HTX": "hợp tác xã", "GPMB": "giải phóng mặt bằng", "TNGT": "tai nạn giao thông",
}  # fmt: skip


def _unit(d: int, after_tens: bool) -> str:
    if after_tens and d == 1:
        return "mốt"
    if after_tens and d == 4:
        return "tư"
    if d == 5 and after_tens:
        return "lăm"
    return DIGITS[d]


def _triple(n: int, full: bool) -> list[str]:
    h, t, u = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if h or full:
        words += [DIGITS[h], "trăm"]
    if t == 0:
        if u:
            if h or full:
                words.append("linh")
            words.append(DIGITS[u])
    elif t == 1:
        words.append("mười")
        if u:
            words.append("lăm" if u == 5 else DIGITS[u])
    else:
        words += [DIGITS[t], "mươi"]
        if u:
            words.append(_unit(u, after_tens=True))
    return words


def number(n: int) -> str:
    """Read a whole number the way a northern announcer does: 2026 → hai nghìn không trăm hai mươi sáu."""
    if n < 0:
        return "âm " + number(-n)
    if n == 0:
        return "không"
    if n >= 10**12:
        return number(n // 10**9) + " tỷ " + number(n % 10**9) if n % 10**9 else number(n // 10**9) + " tỷ"
    groups = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    words: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        leading = i == len(groups) - 1
        words += _triple(g, full=not leading)
        if SCALES[i]:
            words.append(SCALES[i])
    return " ".join(words)


def digits(s: str) -> str:
    return " ".join(DIGITS[int(c)] for c in s if c.isdigit())


def _int(s: str) -> int:
    return int(s.replace(".", "").replace(" ", ""))


def _decimal(s: str) -> str:
    whole, _, frac = s.partition(",")
    out = number(_int(whole))
    if frac:
        out += " phẩy " + (number(int(frac)) if not frac.startswith("0") else digits(frac))
    return out


def _month(m: int) -> str:
    return "tư" if m == 4 else number(m)


NUM = r"\d{1,3}(?:\.\d{3})+|\d+"


def normalise(text: str, abbreviations: Mapping[str, str] | None = None) -> str:
    table = {**DEFAULT_ABBREVIATIONS, **(abbreviations or {})}
    # the commune's list wins, longest first so "UBND xã" can override "UBND"
    for short in sorted(table, key=len, reverse=True):
        text = re.sub(rf"(?<![\wÀ-ỹ]){re.escape(short)}(?![\wÀ-ỹ])", table[short], text)

    def phone(m: re.Match[str]) -> str:
        raw = m.group(0)
        return ("cộng tám bốn " + digits(raw[3:])) if raw.startswith("+84") else digits(raw)

    text = re.sub(r"(?<![\d.,])(?:\+84|0)\d(?:[ .]?\d){8,9}(?![\d.,])", phone, text)

    def full_date(m: re.Match[str]) -> str:
        day = (m.group(1) or "ngày ").strip()
        d, mo, y = int(m.group(2)), int(m.group(3)), int(m.group(4))
        return f"{day} {number(d)} tháng {_month(mo)} năm {number(y)}"

    text = re.sub(r"(?i)(ngày\s+)?\b(\d{1,2})/(\d{1,2})/(\d{4})\b", full_date, text)

    def short_date(m: re.Match[str]) -> str:
        d, mo = int(m.group(2)), int(m.group(3))
        if not (1 <= d <= 31 and 1 <= mo <= 12):
            return m.group(0)
        return f"{(m.group(1) or 'ngày ').strip()} {number(d)} tháng {_month(mo)}"

    text = re.sub(r"(?i)(ngày\s+)?\b(\d{1,2})/(\d{1,2})\b(?!/)", short_date, text)

    def clock(m: re.Match[str]) -> str:
        h, mi = int(m.group(1)), m.group(2) or m.group(3)
        if h > 24 or (mi and int(mi) > 59):
            return m.group(0)
        out = f"{number(h)} giờ"
        if mi and int(mi):
            out += f" {number(int(mi))} phút"
        return out

    text = re.sub(r"\b(\d{1,2})(?:[hg](\d{2})?|:(\d{2}))(?![\d\w])", clock, text)
    text = re.sub(r"(giờ|phút)\s*[-–]\s*", r"\1 đến ", text)
    text = re.sub(r"\b(\d{1,2})\s*giờ\s*(\d{1,2})\b(?!\s*phút)", lambda m: f"{m.group(1)} giờ {m.group(2)} phút", text)

    def money(m: re.Match[str]) -> str:
        amount = _int(m.group(1)) * (1000 if m.group(2).lower() == "k" else 1)
        return f"{number(amount)} đồng" if m.group(2).lower() != "k" else f"{number(amount)}"

    text = re.sub(rf"({NUM})\s*(đồng|đ|vnđ|vnd|k)(?![\wÀ-ỹ])", money, text, flags=re.IGNORECASE)
    text = re.sub(rf"(?<![\d,])({NUM})\s*[-–]\s*({NUM})(?![\d,])", lambda m: f"{m.group(1)} đến {m.group(2)}", text)

    def unit(m: re.Match[str]) -> str:
        return f"{_decimal(m.group(1))} {UNITS[m.group(2).lower()]}"

    units = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
    text = re.sub(rf"(\d+(?:,\d+)?)\s*({units})(?![\wÀ-ỹ²])", unit, text, flags=re.IGNORECASE)
    text = re.sub(
        r"(?<![\d])(\d{1,3}(?:\.\d{3})+|\d+),(\d+)(?!\d)", lambda m: _decimal(f"{m.group(1)},{m.group(2)}"), text
    )
    text = re.sub(NUM, lambda m: number(_int(m.group(0))), text)
    text = re.sub(r"(đồng|nghìn|triệu|mét|gam|lít)\s*/\s*(?=[^\W\d])", r"\1 một ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text

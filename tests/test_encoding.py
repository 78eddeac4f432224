"""Encoding facts: folding, GSM-7 vs UCS-2, and segment counts that match the parts sent."""

from __future__ import annotations

import pytest
from gsmmodem.pdu import decodeSmsPdu

from gateway.core.errors import InvalidRequest
from gateway.sms.encoding import fold, prepare
from gateway.sms.pdu import build_submit


def test_folding_vietnamese() -> None:
    assert fold("Đăng ký khai sinh ở UBND xã Đồng Tâm") == "Dang ky khai sinh o UBND xa Dong Tam"
    assert fold("Phường Nghĩa Đô, Hà Nội") == "Phuong Nghia Do, Ha Noi"
    # decomposed input (some keyboards type it) folds the same
    import unicodedata

    assert fold(unicodedata.normalize("NFD", "Tiếng Việt")) == "Tieng Viet"


@pytest.mark.parametrize(
    ("text", "policy", "encoding", "segments"),
    [
        ("Hop thon luc 19h", "auto", "gsm7", 1),
        ("a" * 160, "auto", "gsm7", 1),
        ("a" * 161, "auto", "gsm7", 2),
        ("a" * 306, "auto", "gsm7", 2),
        ("a" * 307, "auto", "gsm7", 3),
        ("{" * 80, "auto", "gsm7", 1),  # extension characters count double
        ("{" * 81, "auto", "gsm7", 2),
        ("ồ" * 70, "auto", "ucs2", 1),
        ("ồ" * 71, "auto", "ucs2", 2),
        ("ồ" * 134, "auto", "ucs2", 2),
        ("ồ" * 135, "auto", "ucs2", 3),
        ("Họp thôn", "gsm7", "gsm7", 1),
        ("Hop thon", "ucs2", "ucs2", 1),
        ("é à è ù ì ò É", "auto", "gsm7", 1),  # the only accented letters GSM-7 has
        ("😀" * 35, "auto", "ucs2", 1),
        ("😀" * 36, "auto", "ucs2", 2),
    ],
)
def test_segments_match_the_pdus_built(text: str, policy: str, encoding: str, segments: int) -> None:
    prepared = prepare(text, policy)  # type: ignore[arg-type]
    assert (prepared.encoding, prepared.segments) == (encoding, segments)
    pdus = build_submit("+84912345678", prepared, concat_ref=3, status_report=True)
    assert len(pdus) == segments
    decoded = [decodeSmsPdu(p.hex) for p in pdus]
    joined = "".join(d["text"] for d in decoded).encode("utf-16-be", "surrogatepass")
    assert joined.decode("utf-16-be") == prepared.body


def test_an_invalid_recipient_is_refused_when_building() -> None:
    with pytest.raises(InvalidRequest):
        build_submit("not a number", prepare("x", "auto"), concat_ref=1, status_report=False)

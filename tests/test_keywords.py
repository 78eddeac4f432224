"""Matching residents' words to procedures, on the seeded knowledge base."""

from __future__ import annotations

import pytest

from gateway.core.errors import InvalidRequest
from gateway.keywords import kb
from gateway.keywords.matcher import Matcher
from tests.resident_messages import INBOX, MESSAGES

SEED = kb.load_seed()
MATCHER = Matcher(list(SEED.procedures))


def test_the_seed_covers_the_reference_sheet() -> None:
    keys = {p.key for p in SEED.procedures}
    assert keys == {"KS", "KT", "KH", "HN", "TL", "CT", "TT", "CC", "DD", "SD", "BH"}
    assert len(MESSAGES) >= 80


@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_each_resident_message_reaches_its_procedure(message: str, expected: str) -> None:
    keys = MATCHER.match(message).keys
    if expected == INBOX:
        assert keys == (), f"{message!r} must go to a person, not get {keys}"
    else:
        assert keys == (expected,)


def test_two_procedures_in_one_message_ask_which() -> None:
    assert set(MATCHER.match("khai sinh va ket hon").keys) == {"KS", "KH"}


def test_short_codes_never_match_fuzzily() -> None:
    assert MATCHER.match("KX").keys == ()
    assert MATCHER.match("kt").keys == ("KT",)


def test_an_answer_that_no_longer_fits_two_sms_is_refused_with_the_count() -> None:
    raw = SEED.procedures[0].as_json() | {"answer": "Khai sinh: " + "mang giấy tờ " * 12}
    with pytest.raises(InvalidRequest) as e:
        kb.parse(raw)
    assert e.value.details["segments"] == 3
    assert "3 tin nhắn" in e.value.message

"""Kannel's %-escapes in sms-service and dlr-url URLs, filled as smsbox 1.4.5 fills them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote_plus

# what smsbox leaves as it is when it URL-encodes a value (seen from the real smsbox: ':' stays)
_SAFE = ":-_.!~*'()"
_ESCAPE = re.compile(r"%(.)", re.DOTALL)


def fill(template: str, values: Mapping[str, str], *, encode: bool = True) -> str:
    """`template` with each %x replaced by values[x] (URL-encoded when `encode`); an escape Loa has no
    value for becomes empty, %% a single %."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code == "%":
            return "%"
        value = values.get(code, "")
        return quote_plus(value, safe=_SAFE) if encode else value

    return _ESCAPE.sub(one, template)


def words(text: str) -> list[str]:
    return text.split()


def mo_values(
    sender: str, receiver: str, text: str, *, at: str, unix: int, message_id: int, smsc: str
) -> dict[str, str]:
    """The escapes of a resident's message for an sms-service URL (%k keyword, %s the next word, %r the
    rest, %a all words, %b the text as it came, %p sender, %P receiver, %t/%T time, %I id, %i SMSC)."""
    w = words(text)
    return {
        "k": w[0] if w else "",
        "s": w[1] if len(w) > 1 else "",
        "S": (w[1] if len(w) > 1 else "").replace("*", "~"),
        "r": " ".join(w[2:]),
        "a": " ".join(w),
        "b": text,
        "p": sender,
        "q": sender,
        "P": receiver,
        "Q": receiver,
        "t": at,
        "T": str(unix),
        "I": str(message_id),
        "i": smsc,
        "c": "0",
        "C": "UTF-8",
    }

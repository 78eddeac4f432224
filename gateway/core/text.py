"""Vietnamese text folding ("không dấu") and the tokens names and messages are compared by."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Vietnamese "không dấu": NFC, đ→d by hand (NFD keeps it whole), then drop combining marks."""
    text = unicodedata.normalize("NFC", text).replace("đ", "d").replace("Đ", "D")
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def tokens(text: str) -> list[str]:
    t = fold(text).lower()
    t = re.sub(r"[^a-z0-9]+", " ", t)
    # "khaiiii sinhhh": a run of three or more letters is one letter typed with feeling
    return [re.sub(r"(.)\1{2,}", r"\1", tok) for tok in t.split()]

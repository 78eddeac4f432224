"""Resident text to comparable tokens: fold, lowercase, strip punctuation, undo Telex leftovers."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that carry no meaning for the lookup ("cho em hoi lam giay ... can gi a").
FILLERS = frozenset(
    [
        "a",
        "ah",
        "a2",
        "ad",
        "ak",
        "b",
        "bac",
        "cho",
        "chi",
        "co",
        "can",
        "cac",
        "cai",
        "chu",
        "em",
        "gi",
        "giup",
        "hoi",
        "huong",
        "dan",
        "xin",
        "toi",
        "lam",
        "thu",
        "tuc",
        "nhung",
        "nao",
        "the",
        "thi",
        "la",
        "voi",
        "minh",
        "ban",
        "anh",
        "ong",
        "ba",
        "cho",
        "biet",
        "duoc",
        "khong",
        "ko",
        "k",
        "hok",
        "muon",
        "oi",
        "nhe",
        "nha",
        "dang",
        "ky",
        "viec",
        "ve",
        "o",
        "tai",
        "xa",
        "ub",
        "ubnd",
        "van",
        "de",
        "mot",
        "ca",
        "muon",
        "hoi",
        "di",
        "gium",
        "giup",
        "voi",
        "vay",
        "sao",
        "nhu",
        "nao",
    ]
)

# Northern confusions, folded to one form on both sides: x/s, ch/tr, d/gi/r, l/n.
_INITIALS = (("tr", "ch"), ("gi", "d"), ("r", "d"), ("x", "s"), ("n", "l"))
_TELEX_PAIRS = (("dd", "d"), ("aa", "a"), ("aw", "a"), ("ee", "e"), ("oo", "o"), ("ow", "o"), ("uw", "u"))


def telex_candidates(tok: str) -> Iterable[str]:
    """What a token may have been before Telex tone/shape keys leaked into it ("sinhf", "ddawng")."""
    base = tok
    for a, b in _TELEX_PAIRS:
        base = base.replace(a, b)
    base = base.replace("w", "u")
    yield base
    for t in (tok, base):
        if len(t) > 2 and t[-1] in "sfrxj":
            yield t[:-1]
    yield re.sub(r"(.)\1", r"\1", base)


def canonical(tok: str) -> str:
    for a, b in _INITIALS:
        if tok.startswith(a):
            return b + tok[len(a) :]
    return tok


def repair(toks: list[str], vocabulary: frozenset[str]) -> list[str]:
    out = []
    for tok in toks:
        if tok not in vocabulary:
            tok = next((c for c in telex_candidates(tok) if c in vocabulary), tok)
        out.append(tok)
    return out

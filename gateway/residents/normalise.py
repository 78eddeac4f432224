"""Resident text to comparable tokens: fold, lowercase, undo Telex and VNI leftovers, split run-together words."""

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


# Words that make a message a question even when it also reads like an invitation or a notice.
QUESTION_WORDS = frozenset(["gi", "nao", "dau", "sao", "khong", "ko", "k", "hok", "hong", "chua"])
# "báo tin", "ăn hỏi" are not questions; "bao nhiêu", "cho hỏi" are
QUESTION_PAIRS = frozenset(
    ["bao nhieu", "bao lau", "bao gio", "cho hoi", "xin hoi", "em hoi", "hoi ve", "hoi xa", "hoi thu"]
)

_VNI_MARKS = re.compile(r"(?<=[a-z])[1-9]+")
MAX_JOINED = 60  # letters of one token the splitter looks at; a longer one is left whole
LONGEST_WORD = 12


def vni(tok: str) -> str:
    """VNI typing: tone and shape keys are digits after the letter ("d9a8ng" is "đăng", "cu7o71c" "cước")."""
    return _VNI_MARKS.sub("", tok) if tok[:1].isalpha() else tok


def split_joined(tok: str, vocabulary: frozenset[str], pairs: frozenset[str] = frozenset()) -> list[str] | None:
    """ "dangkythuongtru" → dang ky thuong tru: the fewest known words and numbers
    that make up the token, or None when there is no such cut."""
    n = len(tok)
    if n < 4 or n > MAX_JOINED or _SYLLABLE.match(tok):
        return None
    # a known word costs 1, any other piece shaped like one Vietnamese syllable 1.6, so known words win
    best: list[tuple[float, list[str]] | None] = [(0.0, [])] + [None] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - LONGEST_WORD), end):
            prev, piece = best[start], tok[start:end]
            if prev is None:
                continue
            if piece in vocabulary or piece.isdigit():
                cost = 1.0
            elif len(piece) > 1 and _SYLLABLE.match(piece):
                cost = 1.6
            else:
                continue
            if prev[1] and f"{prev[1][-1]} {piece}" in pairs:
                cost -= 0.5  # two words the knowledge base says together: "ket hon", not "ke thon"
            current = best[end]
            if current is None or prev[0] + cost < current[0]:
                best[end] = (prev[0] + cost, [*prev[1], piece])
    found = best[n]
    if found is None or len(found[1]) < 2:
        return None
    # mostly made of known words, or it is a word we do not know ("trick" is not "tric k")
    known = sum(len(p) for p in found[1] if len(p) > 1 and (p in vocabulary or p.isdigit()))
    return found[1] if 2 * known >= n else None


# one Vietnamese syllable, folded: such a token is a word of its own, never two run together ("tuoi")
_SYLLABLE = re.compile(r"^(ngh|ng|nh|ch|tr|th|ph|kh|gh|gi|qu|[bcdghklmnpqrstvx])?[aeiouy]{1,3}(ng|nh|ch|[cmnpt])?$")
_TAIL = re.compile(r"^([a-z]+)([0-9]+)$")


def repair_one(tok: str, vocabulary: frozenset[str], pairs: frozenset[str] = frozenset()) -> list[str]:
    if tok in vocabulary or tok.isdigit():
        return [tok]
    found = next((c for c in telex_candidates(tok) if c in vocabulary), None)
    if found:
        return [found]
    tail = _TAIL.match(tok)
    if tail and tail[1] in vocabulary and tail[2] in vocabulary:  # "muc2" is "mức 2", not VNI "mùc"
        return [tail[1], tail[2]]
    plain = vni(tok)
    if plain in vocabulary:
        return [plain]
    found = next((c for c in telex_candidates(plain) if c in vocabulary), None)
    return [found] if found else split_joined(plain, vocabulary, pairs) or [plain]


def repair(toks: list[str], vocabulary: frozenset[str], pairs: frozenset[str] = frozenset()) -> list[str]:
    return [word for tok in toks for word in repair_one(tok, vocabulary, pairs)]

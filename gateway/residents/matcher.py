"""Match a resident's words to procedures: codes, phrases, situations, then the officials' own examples."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from gateway.core.text import tokens
from gateway.residents.kb import Procedure
from gateway.residents.normalise import FILLERS, QUESTION_PAIRS, QUESTION_WORDS, canonical, repair

CLOSE = 2  # a second procedure scoring within this of the best makes the answer a choice
MAX_CHOICES = 5
MAX_WORDS = 60  # a question is a sentence or two; a 10-part SMS of one-letter words would cost ~0.3 ms a word
SITUATION_GAP = 2  # words allowed between two words of a situation ("mất [bản gốc] giấy khai sinh")
# Chosen on the learning table with bench/keywords.py (leave-one-out): the nearest example counts at or
# above EXAMPLE_SURE even against a phrase, at or above EXAMPLE_LIKELY only where no phrase matched.
EXAMPLE_SURE = 85.0
EXAMPLE_LIKELY = 65.0
EXAMPLE_MARGIN = 6.0  # two examples of different procedures closer than this: ask which
NOT_A_PROCEDURE = ""


def allowed_edits(phrase: str) -> int:
    """Codes and short words only exactly (KS, KT and KH are one edit apart); longer ones fuzzily."""
    letters = len(phrase.replace(" ", ""))
    return 0 if letters < 5 else 1 if letters < 10 else 2


def word_edits(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) < 9 else 2


def close_word(word: str, wanted: str, strict: bool = False) -> int | None:
    """Edits between two words, or None when too far; the first letter must agree ("tự động" is not "tử vong").
    Strict (situations, whose words are common ones): words under six letters exactly ("công" is not "chồng")."""
    if word[:1] != wanted[:1]:
        return None
    budget = (0 if len(wanted) < 6 else 1) if strict else word_edits(wanted)
    d = Levenshtein.distance(word, wanted, score_cutoff=budget + 1)
    return d if d <= budget else None


@dataclass(frozen=True)
class Match:
    keys: tuple[str, ...]  # one: answer it; several: ask which; none: the officials' inbox
    via: str = ""


@dataclass(frozen=True)
class Example:
    """A message the officials answered with a procedure (key), or marked as not one (key "")."""

    text: str
    key: str


@dataclass(frozen=True)
class _Phrase:
    key: str
    words: tuple[str, ...]
    text: str
    joined: str
    edits: int


def _phrase(key: str, text: str) -> _Phrase | None:
    words = tuple(canonical(w) for w in tokens(text))
    if not words:
        return None
    joined = " ".join(words)
    return _Phrase(key, words, joined, "".join(words), allowed_edits(joined))


class Matcher:
    def __init__(
        self,
        procedures: Sequence[Procedure],
        examples: Iterable[Example] = (),
        not_questions: Iterable[str] = (),
    ) -> None:
        self.codes = {p.key.lower(): p.key for p in procedures}
        vocabulary: set[str] = set(FILLERS) | set(QUESTION_WORDS) | set(self.codes)
        self.phrases: list[_Phrase] = []
        self.situations: list[_Phrase] = []
        for p in procedures:
            for text in (p.name, *p.synonyms):
                vocabulary.update(tokens(text))
                if found := _phrase(p.key, text):
                    self.phrases.append(found)
            for text in p.situations:
                vocabulary.update(tokens(text))
                if found := _phrase(p.key, text):
                    self.situations.append(found)
        self.cues = [c for c in (_phrase(NOT_A_PROCEDURE, t) for t in not_questions) if c is not None]
        for cue in self.cues:
            vocabulary.update(cue.words)
        self.vocabulary = frozenset(vocabulary)
        known = set(self.codes.values())
        self.examples = [e for e in examples if e.key == NOT_A_PROCEDURE or e.key in known]
        self.example_texts = [self.content(e.text) for e in self.examples]

    def words(self, message: str) -> list[str]:
        """The message's words as the matcher reads them: folded, repaired, at most MAX_WORDS."""
        return repair(tokens(message)[:MAX_WORDS], self.vocabulary)

    def content(self, message: str) -> str:
        """What examples are compared by: the words without fillers, northern confusions folded."""
        return " ".join(canonical(w) for w in self.words(message) if w not in FILLERS)

    def match(self, message: str) -> Match:
        words = self.words(message)
        content = [w for w in words if w not in FILLERS]
        shouted = {w.lower() for w in re.findall(r"\b[A-Z]{2,3}\b", message)}
        codes = [w for w in words if w in self.codes and (w in shouted or len(content) == 1)]
        if codes:
            return Match((self.codes[codes[0]],), via="code")
        canon = [canonical(w) for w in words]
        if self._not_a_question(message, words):
            return Match((), via="not a question")
        learned = self._nearest(" ".join(canonical(w) for w in content))
        if learned is not None and learned[1] >= EXAMPLE_SURE:
            return learned[0]
        best: dict[str, float] = {}
        for phrase in self.phrases:
            score = _contiguous(phrase, canon)
            if score is not None and score > best.get(phrase.key, -1.0):
                best[phrase.key] = score
        for phrase in self.situations:
            score = _in_order(phrase, canon)
            if score is not None and score > best.get(phrase.key, -1.0):
                best[phrase.key] = score
        if not best:
            if learned is not None and learned[1] >= EXAMPLE_LIKELY:
                return learned[0]
            return Match(())
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top = ranked[0][1]
        close = tuple(k for k, s in ranked if s >= top - CLOSE)[:MAX_CHOICES]
        return Match(close, via="phrase")

    def _not_a_question(self, message: str, words: list[str]) -> bool:
        """An invitation or a notice ("kính mời … dự đám cưới", "cáo phó") with nothing asked in it."""
        if "?" in message or any(w in QUESTION_WORDS for w in words):
            return False
        if any(f"{a} {b}" in QUESTION_PAIRS for a, b in itertools.pairwise(words)):
            return False
        if "mời" in unicodedata.normalize("NFC", message).lower():
            return True
        canon = [canonical(w) for w in words]
        return any(_contiguous(cue, canon) is not None for cue in self.cues)

    def _nearest(self, content: str) -> tuple[Match, float] | None:
        """The officials' examples nearest to the message, as an answer (or the inbox) and its score."""
        if not self.examples or not content:
            return None
        found = [
            (similarity(content, self.example_texts[i], score), i)
            for _, score, i in process.extract(content, self.example_texts, scorer=fuzz.token_set_ratio, limit=20)
        ]
        found.sort(key=lambda f: -f[0])
        if not found:
            return None
        top, index = found[0]
        key = self.examples[index].key
        rivals = {self.examples[i].key for s, i in found if s >= top - EXAMPLE_MARGIN}
        if len(rivals) > 1:
            keys = tuple(k for k in rivals if k != NOT_A_PROCEDURE)
            if NOT_A_PROCEDURE in rivals or not keys:
                return Match(()), top  # a person decides
            return Match(tuple(sorted(keys))[:MAX_CHOICES], via="example"), top
        return Match(() if key == NOT_A_PROCEDURE else (key,), via="example"), top


def similarity(message: str, example: str, set_ratio: float) -> float:
    """rapidfuzz's token_set_ratio, lowered when one side has under half the other's words: a short
    example ("alo", "khai sinh") is inside many messages without meaning what they mean."""
    a, b = len(message.split()), len(example.split())
    return set_ratio * min(1.0, 2.0 * min(a, b) / max(a, b, 1))


def _contiguous(phrase: _Phrase, canon: list[str]) -> float | None:
    n = len(phrase.words)
    first = phrase.joined[0]
    found: float | None = None
    # every path wants the first letter to agree: the loops look only where the message has it
    starts = [i for i, w in enumerate(canon) if w[0] == first]
    for size in {max(1, n - 1), n, n + 1}:
        for i in starts:
            window = canon[i : i + size]
            if len(window) < size:
                break
            if size == n:
                # each word within its own budget: "lam giay" must not pass for "mat giay"
                edits = 0
                for w, p in zip(window, phrase.words, strict=True):
                    d = close_word(w, p)
                    if d is None:
                        break
                    edits += d
                else:
                    if edits <= phrase.edits:
                        score = len(phrase.text) - 3.0 * edits
                        found = score if found is None else max(found, score)
                continue
            # "khaisinh", "khai sin h": compare without the spaces
            edits = Levenshtein.distance("".join(window), phrase.joined, score_cutoff=phrase.edits + 1)
            if edits <= phrase.edits:
                score = len(phrase.text) - 3.0 * edits - 0.5
                found = score if found is None else max(found, score)
    return found


def _in_order(phrase: _Phrase, canon: list[str]) -> float | None:
    """The situation's words in their order, each close enough, at most SITUATION_GAP words apart."""
    best: float | None = None
    for start, word in enumerate(canon):
        first = close_word(word, phrase.words[0], strict=True)
        if first is None:
            continue
        edits, at = first, start
        for wanted in phrase.words[1:]:
            step = next(
                ((j, d) for j in range(at + 1, min(len(canon), at + 2 + SITUATION_GAP))
                 if (d := close_word(canon[j], wanted, strict=True)) is not None),
                None,
            )  # fmt: skip
            if step is None:
                break
            at, edits = step[0], edits + step[1]
        else:
            if edits <= phrase.edits:
                score = len(phrase.text) - 3.0 * edits
                best = score if best is None else max(best, score)
    return best

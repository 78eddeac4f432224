"""Match a resident's words to procedures: exact short codes, then phrases, fuzzily for long ones."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from gateway.core.text import tokens
from gateway.keywords.kb import Procedure
from gateway.keywords.normalise import FILLERS, canonical, repair

CLOSE = 2  # a second procedure scoring within this of the best makes the answer a choice
MAX_CHOICES = 5


def allowed_edits(phrase: str) -> int:
    """Codes and short words only exactly (KS, KT and KH are one edit apart); longer ones fuzzily."""
    letters = len(phrase.replace(" ", ""))
    return 0 if letters < 5 else 1 if letters < 10 else 2


def word_edits(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) < 9 else 2


@dataclass(frozen=True)
class Match:
    keys: tuple[str, ...]  # one: answer it; several: ask which; none: the officials' inbox
    via: str = ""


@dataclass(frozen=True)
class _Phrase:
    key: str
    words: tuple[str, ...]
    text: str
    joined: str
    edits: int


MAX_WORDS = 60


class Matcher:
    def __init__(self, procedures: list[Procedure]) -> None:
        self.codes = {p.key.lower(): p.key for p in procedures}
        self.phrases: list[_Phrase] = []
        vocabulary: set[str] = set(FILLERS) | set(self.codes)
        for p in procedures:
            for synonym in (p.name, *p.synonyms):
                words = tokens(synonym)
                if not words:
                    continue
                vocabulary.update(words)
                canon = tuple(canonical(w) for w in words)
                text = " ".join(canon)
                self.phrases.append(_Phrase(p.key, canon, text, "".join(canon), allowed_edits(text)))
        self.vocabulary = frozenset(vocabulary)

    def match(self, message: str) -> Match:
        # a question is a sentence or two; a 10-part SMS of one-letter words would cost ~0.3 ms a word
        words = repair(tokens(message)[:MAX_WORDS], self.vocabulary)
        content = [w for w in words if w not in FILLERS]
        shouted = {w.lower() for w in re.findall(r"\b[A-Z]{2,3}\b", message)}
        codes = [w for w in words if w in self.codes and (w in shouted or len(content) == 1)]
        if codes:
            return Match((self.codes[codes[0]],), via="code")
        canon = [canonical(w) for w in words]
        best: dict[str, float] = {}
        for phrase in self.phrases:
            score = self._score(phrase, canon)
            if score is not None and score > best.get(phrase.key, -1.0):
                best[phrase.key] = score
        if not best:
            return Match(())
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top = ranked[0][1]
        close = tuple(k for k, s in ranked if s >= top - CLOSE)[:MAX_CHOICES]
        return Match(close, via="phrase")

    @staticmethod
    def _score(phrase: _Phrase, canon: list[str]) -> float | None:
        n = len(phrase.words)
        found: float | None = None
        for size in {max(1, n - 1), n, n + 1}:
            for i in range(len(canon) - size + 1):
                window = canon[i : i + size]
                if size == n:
                    # each word within its own budget: "lam giay" must not pass for "mat giay"
                    per_word = [
                        Levenshtein.distance(w, p, score_cutoff=word_edits(p) + 1)
                        for w, p in zip(window, phrase.words, strict=True)
                    ]
                    if any(d > word_edits(p) for d, p in zip(per_word, phrase.words, strict=True)):
                        continue
                    edits = sum(per_word)
                else:  # "khaisinh", "khai sin h": compare without the spaces
                    edits = Levenshtein.distance("".join(window), phrase.joined, score_cutoff=phrase.edits + 1)
                if edits <= phrase.edits:
                    score = len(phrase.text) - 3.0 * edits - (0.5 if size != n else 0.0)
                    found = score if found is None else max(found, score)
        return found

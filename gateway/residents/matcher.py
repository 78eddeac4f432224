"""Match a resident's words to procedures: codes, phrases, situations, then the officials' own examples."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from gateway.core.text import tokens
from gateway.residents.kb import Procedure
from gateway.residents.neighbours import Neighbours
from gateway.residents.normalise import FILLERS, QUESTION_PAIRS, QUESTION_WORDS, canonical, repair

MAX_CHOICES = 3
# Chosen on the dev set's tuning part with bench/keywords.py (two folds): a runner-up with this share of the
# winner's evidence makes the answer a choice; a winner on life events alone needs SURE_SITUATION evidence.
CLOSE_RATIO = 0.6
MIN_EVIDENCE = 6.0
SURE_SITUATION = 6.0
DONE_WEIGHT = 0.25  # "đã làm khai tử", "có căn cước rồi": the resident names what is done, and asks the next
NAME_BASE = 8.0
NAMED = 9.0  # a name this strong (written without a slip: base + half its letters) names the procedure outright
SHORT = 4  # content words of a message a code in capitals may stand in
CONTEXT_WORDS = ("da", "xong", "roi", "moi")
MAX_WORDS = 60  # a question is a sentence or two; a 10-part SMS of one-letter words would cost ~0.3 ms a word
SITUATION_GAP = 2  # words allowed between two words of a situation ("mất [bản gốc] giấy khai sinh")
# TF-IDF cosine (0-100), chosen on the learning day and the dev set's 10/25/50 % learning curve: the nearest
# example picks among the rules' choices or overrules them into a question at or above EXAMPLE_SURE, and
# answers alone at or above EXAMPLE_LIKELY only where the rules found nothing at all.
EXAMPLE_SURE = 60.0
EXAMPLE_LIKELY = 35.0
EXAMPLE_MARGIN = 6.0  # two examples of different procedures closer than this: ask which
NOT_A_PROCEDURE = ""
_CLAUSE = re.compile(r"[,.;:!?\n]+(?=\s|$)|\n")  # a stop or comma before a space, not "20.000" nor "1,5"


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
    d = OSA.distance(word, wanted, score_cutoff=budget + 1)
    return d if d <= budget else None


@dataclass(frozen=True)
class Match:
    keys: tuple[str, ...]  # one: answer it; several: ask which; none: the officials' inbox
    via: str = ""
    why: str = ""  # what decided, for the officials and the bench: the words or example, and the margin
    confidence: float = 0.0  # the winner's lead over the runner-up, as a share of its evidence (0..1)
    not_ours: bool = False  # a topic the commune answers by hand (criminal record, allowances, passports…)


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


@dataclass(frozen=True)
class _Situation:
    """A life event: one or more parts ("khai sinh + mat"), each found in order, the parts anywhere."""

    key: str
    parts: tuple[_Phrase, ...]
    text: str
    firsts: tuple[str, ...]  # each part's first word: a quick "not here" before the search


def _phrase(key: str, text: str) -> _Phrase | None:
    words = tuple(canonical(w) for w in tokens(text))
    if not words:
        return None
    joined = " ".join(words)
    return _Phrase(key, words, joined, "".join(words), allowed_edits(joined))


def _situation(key: str, text: str) -> _Situation | None:
    parts = tuple(p for p in (_phrase(key, part) for part in text.split("+")) if p is not None)
    if not parts:
        return None
    return _Situation(key, parts, " + ".join(p.text for p in parts), tuple(p.words[0] for p in parts))


class Matcher:
    def __init__(
        self,
        procedures: Sequence[Procedure],
        examples: Iterable[Example] = (),
        not_questions: Iterable[str] = (),
        not_ours: Iterable[str] = (),
        negative: Iterable[str] = (),
    ) -> None:
        self.codes = {p.key.lower(): p.key for p in procedures}
        vocabulary: set[str] = set(FILLERS) | set(QUESTION_WORDS) | set(self.codes) | set(CONTEXT_WORDS)
        self.phrases: list[_Phrase] = []
        self.situations: list[_Situation] = []
        for p in procedures:
            for text in (p.name, *p.synonyms):
                vocabulary.update(tokens(text))
                if found := _phrase(p.key, text):
                    self.phrases.append(found)
            for text in p.situations:
                vocabulary.update(tokens(text))
                if situation := _situation(p.key, text):
                    self.situations.append(situation)
        self.cues = [c for c in (_phrase(NOT_A_PROCEDURE, t) for t in not_questions) if c is not None]
        self.not_ours = [c for c in (_phrase(NOT_A_PROCEDURE, t) for t in not_ours) if c is not None]
        self.negative = [c for c in (_phrase(NOT_A_PROCEDURE, t) for t in negative) if c is not None]
        for cue in (*self.cues, *self.not_ours, *self.negative):
            vocabulary.update(cue.words)
        self.vocabulary = frozenset(vocabulary)
        texts = [*(p.text for p in self.phrases), *(q.text for s in self.situations for q in s.parts)]
        self.pairs = frozenset(f"{a} {b}" for t in texts for a, b in itertools.pairwise(t.split()))
        known = set(self.codes.values())
        self.examples = [e for e in examples if e.key == NOT_A_PROCEDURE or e.key in known]
        self.example_texts = [self.content(e.text) for e in self.examples]
        background = [p.words for p in self.phrases] + [q.words for s in self.situations for q in s.parts]
        self.neighbours = Neighbours([t.split() for t in self.example_texts], background)

    def words(self, message: str) -> list[str]:
        """The message's words as the matcher reads them: folded, repaired, at most MAX_WORDS."""
        return repair(tokens(message)[:MAX_WORDS], self.vocabulary, self.pairs)

    def clauses(self, message: str) -> tuple[list[str], list[int]]:
        """The words, and for each the clause it is in: "mới mất, căn cước" is not "mất căn cước"."""
        words: list[str] = []
        clauses: list[int] = []
        for i, part in enumerate(_CLAUSE.split(message)):
            found = repair(tokens(part), self.vocabulary, self.pairs)[: MAX_WORDS - len(words)]
            words += found
            clauses += [i] * len(found)
        return words, clauses

    def content(self, message: str) -> str:
        """What examples are compared by: the words without fillers, northern confusions folded."""
        return " ".join(canonical(w) for w in self.words(message) if w not in FILLERS)

    def match(self, message: str) -> Match:
        words, clauses = self.clauses(message)
        content = [w for w in words if w not in FILLERS]
        shouted = {w.lower() for w in re.findall(r"\b[A-Z]{2,3}\b", message)}
        # a code in capitals counts in a short message only: "ở trọ ngoài HN" is Hà Nội, not HN
        codes = [
            w for w in words if w in self.codes and ((w in shouted and len(content) <= SHORT) or len(content) == 1)
        ]
        if len(set(codes)) == 1 or (codes and len(content) == 1):
            return Match((self.codes[codes[0]],), via="code", why=f"code {codes[0].upper()}", confidence=1.0)
        canon = _senses([canonical(w) for w in words])
        if self._not_a_question(message, words):
            return Match((), via="not a question", why="an invitation or a notice, nothing asked")
        looked = _Words(canon, words, clauses)
        for cue in self.negative:
            if any(s == len(cue.text) for s, _, _ in _contiguous(cue, canon, looked.initials)):
                return Match((), via="negative cue", why=f"'{cue.text}' keeps the procedure words from answering")
        learned = self._nearest(" ".join(canonical(w) for w in content))
        for cue in self.not_ours:
            if _in_order(cue, looked) is not None:
                if learned is not None and learned[1] >= EXAMPLE_SURE and len(learned[0].keys) == 1:
                    return learned[0]  # the officials answered this very message with a procedure
                return Match((), via="not ours", why=f"'{cue.text}' is not in the knowledge base", not_ours=True)
        ruled = self._weigh(looked)
        return _combine(ruled, learned)

    def _weigh(self, looked: _Words) -> Match:
        """Every procedure's evidence: its names (a name the resident has done already counts a quarter) and the
        life events of its situations, all weighed together; a clear winner is answered, close ones asked."""
        canon = looked.canon
        names: dict[str, tuple[float, int, int, str]] = {}
        for phrase in self.phrases:
            for score, start, end in _contiguous(phrase, canon, looked.initials):
                if score == len(phrase.text):  # written without a slip, a name, even a short one ("vneid"), weighs
                    score = NAME_BASE + 0.5 * score
                elif len(canon) > SHORT and score < 0.6 * len(phrase.text):
                    continue  # in a longer message a near-name is another word ("hôm thứ" is not "hôn thú")
                else:
                    score = max(score, MIN_EVIDENCE)  # "ket hom", "căn cướt": a slip, the name all the same
                if score > names.get(phrase.key, (-1.0, 0, 0, ""))[0]:
                    names[phrase.key] = (score, start, end, phrase.text)
        evidence: dict[str, float] = {}
        said: dict[str, list[str]] = {}
        covered: dict[str, list[tuple[int, int, set[str]]]] = {}
        for key, group in itertools.groupby(self.situations, key=lambda s: s.key):
            found = sorted(
                ((f[0], s.text, f[1]) for s in group if looked.has_all(s.firsts) and (f := _situation_at(s, looked))),
                reverse=True,
            )
            if found:
                # the strongest life event counts whole, the others a half each: several agreeing cues weigh more
                evidence[key] = found[0][0] + 0.5 * sum(f for f, _, _ in found[1:3])
                said[key] = [f"situation '{t}'" for _, t, _ in found[:3]]
                covered[key] = [span for _, _, spans in found for span in spans]
        # a name inside a longer name or a life event of another procedure is that procedure's:
        # "ban sao giay khai sinh", "giấy khai sinh bị rách"
        spans = {k: (s, e) for k, (_, s, e, _) in names.items()}
        inner = {
            k for k, (s, e) in spans.items()
            if any(o != k and os <= s and e <= oe and oe - os > e - s for o, (os, oe) in spans.items())
            or any(o != k and min(e, oe) > max(s, os) and 2 * len(said_words & set(canon[s:e])) >= e - s
                   for o, group in covered.items() for os, oe, said_words in group)
        }  # fmt: skip
        named: list[str] = []
        spoken: set[str] = set()
        finished: set[str] = set()
        for key, (score, start, end, text) in names.items():
            if key in inner:
                continue  # another procedure's words
            done = _already_done(looked.plain, start, end)
            evidence[key] = evidence.get(key, 0.0) + score
            said.setdefault(key, []).insert(0, f"{'done ' if done else ''}name '{text}'")
            if done:
                finished.add(key)
            else:
                spoken.add(key)
                if score >= NAMED:
                    named.append(key)
        for key in finished:
            evidence[key] *= DONE_WEIGHT
        ranked = sorted(evidence.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < MIN_EVIDENCE:
            return Match(())
        (top, best), runner = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
        why = f"{top}: {', '.join(said[top])} ({best:.1f})" + (
            f"; runner-up {runner[0]} {runner[1]:.1f}" if runner[0] else ""
        )
        confidence = (best - runner[1]) / best
        if len(named) > 1:
            # two procedures named outright: ask which, never guess
            keys = tuple(sorted(named, key=lambda k: -evidence[k]))[:MAX_CHOICES]
            return Match(keys, via="two names", why=why, confidence=confidence)
        close = tuple(k for k, s in ranked if s >= best * CLOSE_RATIO)[:MAX_CHOICES]
        if len(close) > 1:
            return Match(close, via="close", why=why, confidence=confidence)
        if top not in spoken and best < SURE_SITUATION:
            return Match((), via="situation, too little", why=why, confidence=confidence)
        return Match((top,), via="name" if top in named else "situation", why=why, confidence=confidence)

    def _not_a_question(self, message: str, words: list[str]) -> bool:
        """An invitation or a notice ("kính mời … dự đám cưới", "cáo phó") with nothing asked in it."""
        if "?" in message or any(w in QUESTION_WORDS for w in words):
            return False
        if any(f"{a} {b}" in QUESTION_PAIRS for a, b in itertools.pairwise(words)):
            return False
        if "mời" in unicodedata.normalize("NFC", message).lower():
            return True
        canon = [canonical(w) for w in words]
        return any(_contiguous(cue, canon) for cue in self.cues)

    def _nearest(self, content: str) -> tuple[Match, float] | None:
        """The officials' examples nearest to the message, as an answer (or the inbox) and its score."""
        if not self.examples or not content:
            return None
        found = self.neighbours.nearest(content.split())
        if not found:
            return None
        top, index, shared = found[0]
        key = self.examples[index].key
        why = f"example '{self.examples[index].text[:60]}' ({top:.0f}: {', '.join(shared)})"
        rivals = {self.examples[i].key for s, i, _ in found if s >= top - EXAMPLE_MARGIN}
        if len(rivals) > 1:
            keys = tuple(k for k in rivals if k != NOT_A_PROCEDURE)
            if NOT_A_PROCEDURE in rivals or not keys:
                return Match((), via="example", why=why), top  # a person decides
            return Match(tuple(sorted(keys))[:MAX_CHOICES], via="example", why=why), top
        return Match(() if key == NOT_A_PROCEDURE else (key,), via="example", why=why, confidence=0.5), top


def _combine(ruled: Match, learned: tuple[Match, float] | None) -> Match:
    """The rules and the nearest example together: an example is a near neighbour, not a keyword, so it
    answers alone only when it is very near, and where it and the rules disagree the resident is asked."""
    if learned is None or learned[1] < EXAMPLE_LIKELY:
        return ruled
    example, score = learned
    if not example.keys:
        # taught as not a procedure: a close one keeps the rules from answering
        return Match((), via="example", why=example.why) if score >= EXAMPLE_SURE else ruled
    if not ruled.keys:
        # where the rules found nothing at all, a likely example answers; where they hesitated, a sure one
        return example if score >= EXAMPLE_SURE or (score >= EXAMPLE_LIKELY and not ruled.why) else ruled
    if len(ruled.keys) == 1 and len(example.keys) == 1:
        if score < EXAMPLE_SURE:
            return ruled  # a merely likely neighbour does not overrule the words of the message
        if ruled.keys == example.keys:
            return Match(ruled.keys, via=f"{ruled.via} + example", why=f"{ruled.why}; {example.why}",
                         confidence=max(ruled.confidence, 0.5))  # fmt: skip
        keys = (ruled.keys[0], example.keys[0])
        return Match(keys, via="rules and example disagree", why=f"{ruled.why}; {example.why}")
    if len(ruled.keys) > 1 and len(example.keys) == 1 and example.keys[0] in ruled.keys and score >= EXAMPLE_SURE:
        return Match(example.keys, via="example picks", why=f"{ruled.why}; {example.why}", confidence=0.5)
    return ruled


def _contiguous(
    phrase: _Phrase, canon: list[str], initials: dict[str, list[int]] | None = None
) -> list[tuple[float, int, int]]:
    """Where the phrase stands in the message, as (score, first word, past the last word), fuzzily."""
    n = len(phrase.words)
    first = phrase.joined[0]
    found: list[tuple[float, int, int]] = []
    # every path wants the first letter to agree: the loops look only where the message has it
    starts = initials.get(first, []) if initials is not None else [i for i, w in enumerate(canon) if w[0] == first]
    if not starts:
        return found
    for size in {max(1, n - 1), n, n + 1}:
        for i in starts:
            window = canon[i : i + size]
            if len(window) < size:
                break
            if size == n:
                # each word within its own budget: "lam giay" must not pass for "mat giay"
                edits = 0
                for w, p in zip(window, phrase.words, strict=True):
                    d = 0 if w == p else close_word(w, p)
                    if d is None:
                        break
                    edits += d
                else:
                    if edits <= phrase.edits:
                        found.append((len(phrase.text) - 3.0 * edits, i, i + size))
                continue
            # "khaisinh", "khai sin h": compare without the spaces (when the lengths allow it at all)
            joined = "".join(window)
            if abs(len(joined) - len(phrase.joined)) > phrase.edits:
                continue
            edits = OSA.distance(joined, phrase.joined, score_cutoff=phrase.edits + 1)
            if edits <= phrase.edits:
                found.append((len(phrase.text) - 3.0 * edits - 0.5, i, i + size))
    return found


# "mất bao lâu", "mất mấy ngày", "mất bao nhiêu tiền": it takes, not lost nor died
_COSTS = frozenset(
    ["le", "may", "tien", "nhieu", "khoang", "phi", "thoi", "lau", "chung", "bao lau", "bao lhieu", "bao dio"]
)


def _senses(canon: list[str]) -> list[str]:
    padded = [*canon, "", ""]
    return [
        "ton" if w == "mat" and (padded[i + 1] in _COSTS or f"{padded[i + 1]} {padded[i + 2]}" in _COSTS) else w
        for i, w in enumerate(canon)
    ]


def _already_done(words: list[str], start: int, end: int) -> bool:
    """ "đã làm khai tử", "mới làm căn cước xong", "có giấy khai sinh rồi": named as done, not asked."""
    before, after = words[max(0, start - 3) : start], words[end : end + 3]
    if "da" in before or "xong" in after or words[end : end + 1] == ["roi"]:
        return True
    # a paper to bring, to copy or a place, not what is asked: "mang căn cước", "nộp lại căn cước",
    # "trên VNeID", "phòng công chứng", "so với giấy khai sinh", "công chứng sổ đỏ", "sao y căn cước"
    return bool(_BRING.intersection(before[-2:])) or before[-2:] == ["so", "voi"]


_BRING = frozenset(["mang", "dem", "nop", "tren", "qua", "kem", "theo", "phong", "chung", "thuc", "y"])


def _situation_at(situation: _Situation, words: _Words) -> tuple[float, list[tuple[int, int, set[str]]]] | None:
    """The life event's score and where its parts stand (with their words), when every part is in the message."""
    total, spans = 0.0, []
    for part in situation.parts:
        found = _in_order_at(part, words)
        if found is None:
            return None
        total += found[0]
        spans.append((found[1], found[2], set(part.words)))
    return total, spans


class _Words:
    """A message's canonical words, with where each wanted word stands (and its edits), looked up once."""

    def __init__(self, canon: list[str], plain: list[str] | None = None, clauses: list[int] | None = None) -> None:
        self.canon = canon
        self.clauses = clauses if clauses is not None else [0] * len(canon)  # a comma or a stop starts a clause
        self.plain = plain if plain is not None else canon  # before canonical(): "ra", "già" and "đã" differ
        self._at: dict[str, dict[int, int]] = {}
        self._exact: dict[str, list[int]] = {}
        self.initials: dict[str, list[int]] = {}
        for i, w in enumerate(canon):
            self._exact.setdefault(w, []).append(i)
            self.initials.setdefault(w[:1], []).append(i)

    def has_all(self, wanted: tuple[str, ...]) -> bool:
        return all(w in self._exact or (len(w) >= 6 and self.at(w)) for w in wanted)

    def at(self, wanted: str) -> dict[int, int]:
        found = self._at.get(wanted)
        if found is None:
            found = dict.fromkeys(self._exact.get(wanted, ()), 0)
            if len(wanted) >= 6:  # strict: only words of six letters or more may differ, by one edit
                for w, where in self._exact.items():
                    near = w != wanted and w[:1] == wanted[:1] and abs(len(w) - len(wanted)) <= 1
                    if near and close_word(w, wanted, strict=True) is not None:
                        found.update(dict.fromkeys(where, 1))
            self._at[wanted] = found
        return found


def _in_order(phrase: _Phrase, words: _Words) -> float | None:
    found = _in_order_at(phrase, words)
    return None if found is None else found[0]


def _in_order_at(phrase: _Phrase, words: _Words) -> tuple[float, int, int] | None:
    """The situation's words in their order, each close enough, at most SITUATION_GAP words apart."""
    best: tuple[float, int, int] | None = None
    n = len(words.canon)
    for start, first in words.at(phrase.words[0]).items():
        edits, at = first, start
        for wanted in phrase.words[1:]:
            hits = words.at(wanted)
            clause = words.clauses[at]
            step = next(
                ((j, hits[j]) for j in range(at + 1, min(n, at + 2 + SITUATION_GAP))
                 if j in hits and words.clauses[j] == clause),
                None,
            )  # fmt: skip
            if step is None:
                break
            at, edits = step[0], edits + step[1]
        else:
            if edits <= phrase.edits:
                score = len(phrase.text) - 3.0 * edits
                if best is None or score > best[0]:
                    best = (score, start, at + 1)
    return best

"""Keyword matching on the residents' message table: right, asked back, to the officials, wrong; and time."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bench import Figure
from gateway.residents.kb import load_seed
from gateway.residents.matcher import NOT_A_PROCEDURE, Example, Matcher
from tests.resident_messages import INBOX, KINDS, LEARNING_DAY, MESSAGES


@dataclass
class Tally:
    right: int = 0
    asked: int = 0  # a numbered choice: a message more, misleads no one
    officials: int = 0  # a procedure question sent to the officials' inbox
    wrong: int = 0  # another procedure's answer, or an answer to what was not a question
    n: int = 0

    def add(self, keys: tuple[str, ...], expected: str) -> None:
        self.n += 1
        got = keys[0] if len(keys) == 1 else INBOX if not keys else None
        if got == expected:
            self.right += 1
        elif got is None:
            self.asked += 1
        elif got == INBOX:
            self.officials += 1
        else:
            self.wrong += 1

    def detail(self) -> str:
        return f"{self.right}/{self.n}; {self.asked} asked back, {self.officials} to officials, {self.wrong} wrong"


def tally(matcher: Matcher, rows: Iterable[tuple[str, str]]) -> Tally:
    t = Tally()
    for text, expected in rows:
        t.add(matcher.match(text).keys, expected)
    return t


def label(key: str) -> str:
    return NOT_A_PROCEDURE if key == INBOX else key


async def run(quick: bool = False) -> list[Figure]:
    seed = load_seed()
    alone = Matcher(seed.procedures, not_questions=seed.not_questions)
    firsts = [Example(first, label(key)) for first, _, key in LEARNING_DAY]
    taught = Matcher(seed.procedures, firsts, seed.not_questions)
    seconds = [(second, key) for _, second, key in LEARNING_DAY]
    everything = [Example(text, label(key)) for first, second, key in LEARNING_DAY for text in (first, second)]
    loo = Tally()
    for i, example in enumerate(everything):
        others = Matcher(seed.procedures, everything[:i] + everything[i + 1 :], seed.not_questions)
        loo.add(others.match(example.text).keys, example.key or INBOX)
    figures = [
        Figure("keywords", f"seed alone, {kind}", round(t.right / t.n, 3), "", t.detail())
        for kind, rows in KINDS.items()
        for t in [tally(alone, rows)]
    ]
    whole, whole_taught = tally(alone, MESSAGES), tally(taught, MESSAGES)
    figures += [
        Figure("keywords", "seed alone, the whole table", round(whole.right / whole.n, 3), "", whole.detail()),
        Figure("keywords", "seed + the day's examples, the whole table", round(whole_taught.right / whole.n, 3), "",
               whole_taught.detail()),
        Figure("keywords", "seed alone, the day's paraphrases", round(tally(alone, seconds).right / len(seconds), 3),
               "", tally(alone, seconds).detail()),
        Figure("keywords", "seed + the first half's examples, the day's paraphrases",
               round(tally(taught, seconds).right / len(seconds), 3), "", tally(taught, seconds).detail()),
        Figure("keywords", "learned examples, leave-one-out", round(loo.right / loo.n, 3), "", loo.detail()),
    ]  # fmt: skip
    # time, with a knowledge base that has learned for a long while: 1,000 examples
    many = [Example(f"{e.text} {word}", e.key) for word in _WORDS for e in everything][:1000]
    big = Matcher(seed.procedures, many, seed.not_questions)
    times: list[float] = []
    for _ in range(1 if quick else 5):
        for text, _ in [*MESSAGES, *seconds]:
            t0 = time.perf_counter()
            big.match(text)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    figures.append(
        Figure("keywords", "matching time per message, 1,000 examples, median", round(statistics.median(times), 3),
               "ms", f"p95 {times[int(0.95 * (len(times) - 1))]:.3f} ms, max {times[-1]:.3f} ms")
    )  # fmt: skip
    return figures


# words that pad the examples into 1,000 distinct ones for the timing
_WORDS = [f"{a}{b}" for a in "bcdghklmnpqrstvx" for b in ("a", "e", "i", "o", "u", "ang", "inh")][:30]


def main() -> None:
    for f in asyncio.run(run()):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    main()

"""Keyword matching on the residents' message table: right, asked back, to the officials, wrong; and time."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bench import Figure
from gateway.residents.kb import load_seed
from gateway.residents.matcher import NOT_A_PROCEDURE, Example, Matcher
from tests.resident_messages import DEV, INBOX, KINDS, LEARNING_DAY, MESSAGES


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


@dataclass
class DevTally:
    """The dev set's figures: positives right / asked back / to officials / wrong; non-questions answered."""

    right: int = 0
    asked: int = 0
    officials: int = 0
    wrong: int = 0
    positives: int = 0
    nulls: int = 0
    null_answered: int = 0
    null_asked: int = 0
    asked_right: int = 0  # asked back with the right procedure among the choices: right at the second message

    def add(self, keys: tuple[str, ...], expected: str) -> None:
        if expected == INBOX:
            self.nulls += 1
            self.null_answered += len(keys) == 1
            self.null_asked += len(keys) > 1
            return
        self.positives += 1
        if keys == (expected,):
            self.right += 1
        elif len(keys) > 1:
            self.asked += 1
            self.asked_right += expected in keys
        elif not keys:
            self.officials += 1
        else:
            self.wrong += 1

    @property
    def n(self) -> int:
        return self.positives + self.nulls

    def wrong_rate(self) -> float:
        """Messages that got a wrong procedure's answer, non-questions included, over all messages."""
        return (self.wrong + self.null_answered) / max(1, self.n)

    def detail(self) -> str:
        return (
            f"{self.right}/{self.positives} right, {self.asked} asked back ({self.asked_right} with the right one), "
            f"{self.officials} to officials, "
            f"{self.wrong} wrong; non-questions answered {self.null_answered}/{self.nulls} "
            f"(asked back {self.null_asked}); wrong answers {self.wrong + self.null_answered}/{self.n}"
        )


HOLDOUT_SEED = 27  # a fifth of the dev set set aside, looked at only for the closing figures


def _split() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    aside = set(random.Random(HOLDOUT_SEED).sample(range(len(DEV)), len(DEV) // 5))
    return [r for i, r in enumerate(DEV) if i not in aside], [r for i, r in enumerate(DEV) if i in aside]


def dev_tally(matcher: Matcher, rows: Iterable[tuple[str, str, str]]) -> tuple[DevTally, dict[str, DevTally]]:
    whole, styles = DevTally(), dict[str, DevTally]()
    for text, expected, style in rows:
        keys = matcher.match(text).keys
        whole.add(keys, expected)
        styles.setdefault(style, DevTally()).add(keys, expected)
    return whole, dict(sorted(styles.items(), key=lambda kv: -kv[1].n))


def learning_curve(fraction: float, seeds: int = 5) -> DevTally:
    """Part of the dev set taught as the officials' examples, the rest asked; summed over a few random draws."""
    seed = load_seed()
    total = DevTally()
    for s in range(seeds):
        rows = list(DEV)
        random.Random(s).shuffle(rows)
        cut = int(len(rows) * fraction)
        taught = [Example(text, label(key)) for text, key, _ in rows[:cut]]
        matcher = Matcher(seed.procedures, taught, seed.not_questions, seed.not_ours, seed.negative)
        for text, expected, _ in rows[cut:]:
            total.add(matcher.match(text).keys, expected)
    return total


def dev_figures(alone: Matcher, quick: bool) -> list[Figure]:
    tune, holdout = _split()
    figures: list[Figure] = []
    for name, rows in (("the whole dev set", DEV), ("dev, tuning part", tune), ("dev, part set aside", holdout)):
        whole, styles = dev_tally(alone, rows)
        figures.append(
            Figure(
                "keywords", f"seed alone, {name}, right", round(whole.right / whole.positives, 3), "", whole.detail()
            )
        )
        figures.append(
            Figure(
                "keywords",
                f"seed alone, {name}, wrong answers",
                round(whole.wrong_rate(), 4),
                "",
                f"{whole.wrong + whole.null_answered}/{whole.n}",
            )
        )
        if rows is DEV:
            figures += [
                Figure(
                    "keywords",
                    f"seed alone, dev set, style {style}",
                    round(t.right / max(1, t.positives), 3),
                    "",
                    t.detail(),
                )
                for style, t in styles.items()
            ]
    for fraction in (0.1, 0.25, 0.5):
        t = learning_curve(fraction, 1 if quick else 5)
        figures.append(
            Figure(
                "keywords",
                f"dev set, {fraction:.0%} taught, the rest asked, right",
                round(t.right / t.positives, 3),
                "",
                t.detail(),
            )
        )
    return figures  # fmt: skip


def label(key: str) -> str:
    return NOT_A_PROCEDURE if key == INBOX else key


async def run(quick: bool = False) -> list[Figure]:
    seed = load_seed()
    alone = Matcher(seed.procedures, not_questions=seed.not_questions, not_ours=seed.not_ours, negative=seed.negative)
    firsts = [Example(first, label(key)) for first, _, key in LEARNING_DAY]
    taught = Matcher(seed.procedures, firsts, seed.not_questions, seed.not_ours, seed.negative)
    seconds = [(second, key) for _, second, key in LEARNING_DAY]
    everything = [Example(text, label(key)) for first, second, key in LEARNING_DAY for text in (first, second)]
    loo = Tally()
    for i, example in enumerate(everything):
        others = Matcher(
            seed.procedures, everything[:i] + everything[i + 1 :], seed.not_questions, seed.not_ours, seed.negative
        )
        loo.add(others.match(example.text).keys, example.key or INBOX)
    figures = [
        Figure("keywords", f"seed alone, {kind}", round(t.right / t.n, 3), "", t.detail())
        for kind, rows in KINDS.items()
        for t in [tally(alone, rows)]
    ]
    figures += dev_figures(alone, quick)
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
    big = Matcher(seed.procedures, many, seed.not_questions, seed.not_ours, seed.negative)
    times: list[float] = []
    for _ in range(1 if quick else 5):
        for text in [*(m for m, _ in MESSAGES), *(m for m, _ in seconds), *(m for m, _, _ in DEV)]:
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

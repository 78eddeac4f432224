"""Benchmark of keyword matching on the residents' message table: accuracy, wrong answers, time."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench import Figure
from gateway.keywords.kb import load_seed
from gateway.keywords.matcher import Matcher
from tests.resident_messages import INBOX, MESSAGES


async def run(quick: bool = False) -> list[Figure]:
    matcher = Matcher(list(load_seed().procedures))
    right = wrong = asked = 0
    wrong_to_nonsense = 0
    times = []
    for text, expected in MESSAGES:
        t0 = time.perf_counter()
        keys = matcher.match(text).keys
        times.append((time.perf_counter() - t0) * 1000)
        got = keys[0] if len(keys) == 1 else INBOX if not keys else None
        if got == expected:
            right += 1
        elif got is None:
            asked += 1  # a numbered choice: costs a message, misleads no one
        else:
            wrong += 1
            wrong_to_nonsense += expected == INBOX
    for _ in range(2 if quick else 20):  # steadier timing
        for text, _ in MESSAGES:
            t0 = time.perf_counter()
            matcher.match(text)
            times.append((time.perf_counter() - t0) * 1000)
    n = len(MESSAGES)
    nonsense = sum(1 for _, k in MESSAGES if k == INBOX)
    times.sort()
    return [
        Figure("keywords", "right answers on the project's own message table", round(right / n, 3), "",
               f"{right}/{n}; {asked} asked back, {wrong} wrong, {wrong_to_nonsense} of {nonsense} nonsense answered"),
        Figure("keywords", "matching time per message, median", round(statistics.median(times), 3), "ms",
               f"p95 {times[int(0.95 * (len(times) - 1))]:.3f} ms"),
    ]  # fmt: skip


def main() -> None:
    for f in asyncio.run(run()):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    main()

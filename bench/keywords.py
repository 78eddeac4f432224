"""Benchmark of keyword matching on the residents' message table: accuracy, wrong answers, time."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.keywords.kb import load_seed
from gateway.keywords.matcher import Matcher
from tests.resident_messages import INBOX, MESSAGES


def main() -> None:
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
            print(f"  wrong: {text!r} → {got}, expected {expected}")
    for _ in range(20):  # steadier timing
        for text, _ in MESSAGES:
            t0 = time.perf_counter()
            matcher.match(text)
            times.append((time.perf_counter() - t0) * 1000)
    n = len(MESSAGES)
    nonsense = sum(1 for _, k in MESSAGES if k == INBOX)
    print(f"accuracy: {right}/{n} = {right / n:.1%} right, {asked} asked back, {wrong} wrong answers")
    print(f"wrong answers to the {nonsense} greetings and nonsense messages: {wrong_to_nonsense}")
    times.sort()
    print(
        f"matching time per message: median {statistics.median(times):.3f} ms, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:.3f} ms"
    )


if __name__ == "__main__":
    main()

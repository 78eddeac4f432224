"""The clock every service reads: injected, so tests move time by hand and nothing calls time.time()."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()

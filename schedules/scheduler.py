"""The one scheduler: every kind of timed work, due times read from the database, one wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)
MAX_SLEEP = 30.0  # seconds: look again at least this often (a row changed by hand, a clock step)


@dataclass(frozen=True)
class Job:
    """One kind of timed work. `next_at` reads the earliest due time from the database (None: nothing
    waits); `run(now, grace)` does what is due at `now`, and calls an occurrence more than `grace`
    seconds late missed instead of doing it (the one misfire policy, with a grace per kind). It
    returns the background tasks it started (plays), so a test can wait for them."""

    name: str
    grace: float
    next_at: Callable[[], Awaitable[float | None]]
    run: Callable[[float, float], Awaitable[Sequence[asyncio.Task[None]]]]
    # at a wall-clock time (a reminder at 07:00, an announcement): held while the clock is not trusted
    by_the_clock: bool = False


@runtime_checkable
class SettableClock(Protocol):
    def __call__(self) -> float: ...

    def set(self, now: float) -> None: ...


class Scheduler:
    """Nothing is pickled and nothing is kept in memory but the wake-up: at start, and after every
    change, the next due time is read again from the rows of every job kind."""

    def __init__(self, clock: Callable[[], float], hold: Callable[[], str | None] | None = None) -> None:
        self.clock = clock
        # why the clock cannot be trusted now (None: it can); jobs `by_the_clock` wait meanwhile
        self.hold = hold
        self.held: str | None = None
        self.jobs: list[Job] = []
        self._wake = asyncio.Event()
        self._failed = False
        self._ran_at = 0.0

    def add(self, *jobs: Job) -> None:
        self.jobs.extend(jobs)

    def wake(self) -> None:
        """Something was scheduled or changed: compute the next due time again now."""
        self._wake.set()

    async def next_at(self) -> float | None:
        times = [t for job in self.jobs if (t := await job.next_at()) is not None]
        return min(times, default=None)

    async def run_due(self) -> list[asyncio.Task[None]]:
        """Run every job kind that has something due; one that fails does not stop the others."""
        now = self._ran_at = self.clock()
        started: list[asyncio.Task[None]] = []
        self._failed = False
        held = self.hold() if self.hold is not None else None
        if held != self.held:
            if held:
                log.warning("clock not trusted (%s): reminders and announcements wait", held)
            else:
                log.info("clock trusted again: reminders and announcements go on")
            self.held = held
        for job in self.jobs:
            if held and job.by_the_clock:
                continue
            try:
                due = await job.next_at()
                if due is not None and due <= now:
                    started.extend(await job.run(now, job.grace))
            except asyncio.CancelledError:
                raise
            except Exception:
                self._failed = True
                log.exception("scheduled %s failed; the other jobs go on", job.name)
        return started

    async def advance(self, to: float) -> list[asyncio.Task[None]]:
        """Tests: move the (fake) clock to `to` and run what is due there, as the loop would."""
        if not isinstance(self.clock, SettableClock):
            raise TypeError("advance() needs a clock that can be set (gateway.testing.FakeClock)")
        self.clock.set(to)
        return await self.run_due()

    async def run(self) -> None:
        while True:
            try:
                self._wake.clear()
                await self.run_due()
                nxt = await self.next_at()
                wait = MAX_SLEEP if nxt is None else max(0.0, min(MAX_SLEEP, nxt - self.clock()))
                if self._failed or self.held:
                    wait = max(wait, 1.0)  # a failing job, or one held by the clock, must not spin the loop
                elif nxt is not None and nxt <= self._ran_at:
                    wait = 0.2  # still due at the time it just ran: a job that did not move its row on
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler loop failed; going on")
                await asyncio.sleep(1.0)

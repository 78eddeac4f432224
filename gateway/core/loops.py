"""The app's long-running loops: started once every package is set up, stopped gently, then cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Loops:
    """What each package runs for as long as the app runs (the outbox's senders, the router, the
    scheduler), and what each must do before they are cancelled (let the parts in flight finish)."""

    def __init__(self) -> None:
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = []
        self._before: list[Callable[[], Awaitable[Any]]] = []
        self._gentle: list[Callable[[], Awaitable[Any]]] = []
        self._tasks: list[asyncio.Task[Any]] = []

    def add(
        self,
        name: str,
        run: Callable[[], Coroutine[Any, Any, Any]],
        *,
        before: Callable[[], Awaitable[Any]] | None = None,
        stop: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """`before` runs ahead of every loop's start; `stop` ahead of every cancel, in the order added."""
        self._loops.append((name, run))
        if before is not None:
            self._before.append(before)
        if stop is not None:
            self._gentle.append(stop)

    def on_stop(self, stop: Callable[[], Awaitable[Any]]) -> None:
        """Something to finish before the loops are cancelled (an announcement playing)."""
        self._gentle.append(stop)

    async def start(self) -> None:
        for before in self._before:
            await before()
        self._tasks = [asyncio.create_task(run(), name=name) for name, run in self._loops]

    async def stop(self) -> None:
        for gentle in self._gentle:
            await gentle()
        await stop_tasks(self._tasks)
        self._tasks = []


async def stop_tasks(tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel and wait, bounded: on 3.11 a cancel that lands as an asyncio.timeout expires can be
    taken for the timeout and swallowed, and a loop would then go on; it is cancelled again."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        log.warning("task %s did not stop when cancelled: cancelling it again", task.get_name())
        task.cancel()
    if pending:
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            log.error("task %s still runs after two cancels; leaving it", task.get_name())

"""A change signal: writers call notify(); waiters re-check their condition after each change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Notifier:
    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    def notify(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], Awaitable[bool]]) -> None:
        """Return once check() is true; it is re-run after every notify(). Bound it with a timeout."""
        while True:
            async with self._changed:
                if await check():
                    return
                await self._changed.wait()

"""A change signal: writers call notify(); waiters re-check their condition after each change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter; later waiters wait for the next change."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_until(self, check: Callable[[], Awaitable[bool]]) -> None:
        """Return once check() is true; it is re-run after every notify(). Bound it with a timeout."""
        while True:
            # taken before the check: a change during the check is not missed
            event = self._event
            if await check():
                return
            await event.wait()

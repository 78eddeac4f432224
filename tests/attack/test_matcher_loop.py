"""A knowledge base filled to its limits took 2.6 s a message on the event loop, and the whole server
stalled with it (issue #30, Low 14): the match runs on a worker thread, the loop goes on."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from gateway.residents.keys import RESIDENTS
from gateway.testing import EmulatedModem, routed


async def test_a_slow_match_never_holds_the_server(gateway: Any, emulator: EmulatedModem) -> None:
    residents = gateway.app[RESIDENTS]
    matcher = residents.matcher
    entered, release = threading.Event(), threading.Event()
    outcomes: list[str] = []

    class Slow:
        """The matcher, held inside its match until the test lets go (as a huge knowledge base holds it)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(matcher, name)

        def match(self, text: str) -> Any:
            entered.set()
            # released by the test only if the event loop could serve /healthz meanwhile
            outcomes.append("released" if release.wait(10) else "the loop was held")
            return matcher.match(text)

    residents.matcher = Slow()
    emulator.deliver("+84912000003", "cho em hoi lam giay khai sinh can gi a")
    assert await asyncio.to_thread(entered.wait, 10)
    health = await gateway.get("/healthz")
    assert health.status in (200, 503)
    release.set()
    await routed(gateway, 1)
    assert outcomes == ["released"]

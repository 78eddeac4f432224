"""A submit a little slower than usual is no trouble: /healthz stays "ok" until the submit is slow by
the measure that calls the network slow (issue #31)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.testing import AUTH, EmulatedModem, wait_sent


async def test_a_submit_of_0_9_s_does_not_turn_healthz_degraded(emulator: EmulatedModem, start_gateway: Any) -> None:
    emulator.submit_delay = 0.02
    client = await start_gateway(emulator, modem={"command_timeout": 2.0})
    for i in range(5):  # the gateway learns how long this modem's submits take: about 0.02 s
        await client.post("/api/v1/messages", json={"to": "0912345678", "text": f"Tin {i}"}, headers=AUTH)
    await wait_sent(emulator, 5)
    emulator.submit_delay = 0.9  # a busy cell: 45 times the usual, well within the documented 60 s
    emulator.submitting.clear()
    await client.post("/api/v1/messages", json={"to": "0912345678", "text": "Tin chậm"}, headers=AUTH)
    async with asyncio.timeout(10):
        await emulator.submitting.wait()
    seen = set()
    while emulator.submitting.is_set():
        body = await (await client.get("/healthz")).json()
        seen.add((body["status"], body["modem"]["overdue"] is None))
        await asyncio.sleep(0.05)
    await wait_sent(emulator, 6)
    assert seen == {("ok", True)}, seen

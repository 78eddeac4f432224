"""The race: 200 outbound while 100 inbound arrive at random moments, some in the middle of AT+CMGS."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from gateway.testing import AUTH, EmulatedModem, sql, until


async def test_200_out_100_in_each_exactly_once(gateway: Any, emulator: EmulatedModem) -> None:
    rng = random.Random(20261126)
    inbound = [f"Dân hỏi số {i}: thủ tục gì ạ?" for i in range(100)]
    waiting = list(inbound)
    mid_cmgs = 0

    def phone_speaks(line: str) -> None:
        # the phone side acts on the modem's own clock: whatever command the gateway just sent
        nonlocal mid_cmgs
        if waiting and rng.random() < 0.4:
            during = line.startswith("AT+CMGS") and rng.random() < 0.7
            mid_cmgs += during
            emulator.deliver(f"+8491{rng.randrange(10**7):07d}", waiting.pop(0), mid_cmgs=during)

    emulator.on_command = phone_speaks
    outbound = [f"Thông báo {i}: họp thôn lúc 19h" for i in range(200)]
    for start in range(0, 200, 50):
        for text in outbound[start : start + 50]:
            resp = await gateway.post("/api/v1/messages", json={"to": ["0912345678"], "text": text}, headers=AUTH)
            assert resp.status == 202

    async def api_sent() -> bool:
        rows = await sql(gateway, "select count(*) from outbox where source='api:api' and status='sent'")
        return int(rows[0][0]) == 200

    await until(gateway, api_sent, timeout=120)
    while waiting:  # whatever the random draw left over
        emulator.deliver("+84911111111", waiting.pop(0))

    async def all_in() -> bool:
        rows = await sql(gateway, "select count(*) from inbox")
        return int(rows[0][0]) >= 100 and emulator.stored == 0

    await until(gateway, all_in, timeout=120)
    # residents' questions get automatic replies too; the API's messages all went to one number
    sent_counts = Counter(m.text for m in emulator.messages() if m.number == "+84912345678")
    assert sent_counts == Counter(outbound), "every outbound message exactly once"
    stored = Counter(r[0] for r in await sql(gateway, "select text from inbox"))
    assert stored == Counter(inbound), "every inbound message exactly once"
    assert mid_cmgs >= 10, "the draw put inbound SMS inside AT+CMGS exchanges"
    statuses = await sql(gateway, "select status, count(*) from outbox where source='api:api' group by status")
    assert dict(statuses) == {"sent": 200}

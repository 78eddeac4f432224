"""What an attacker could make the commune pay for: opted-out numbers, alert priority, floods of OK."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.keys import STORE
from gateway.testing import AUTH, EmulatedModem, count, say, settled, sql, to
from gateway.web import accounts

HEAD = "+84912000001"
RESIDENT = "+84912000002"


async def add(client: Any, name: str, number: str, roles: list[str]) -> None:
    body = {"name": name, "number": number, "hamlet": "Nà Phìn", "roles": roles}
    resp = await client.post("/api/v1/contacts", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()


async def head_token(client: Any) -> dict[str, str]:
    store = client.app[STORE]
    user = await store.call(accounts.add_user, "truongthon", "matkhau-an-toan-1", "hamlet_head", "Nà Phìn", time.time())
    return {"Authorization": f"Bearer {await store.call(accounts.new_token, user.id, 'test', time.time())}"}


async def test_the_api_honours_huy_except_for_alerts(gateway: Any, emulator: EmulatedModem) -> None:
    await add(gateway, "Giàng Thị Dua", RESIDENT, ["resident"])
    await say(gateway, emulator, "HUY", sender=RESIDENT)
    routine = await gateway.post("/api/v1/messages", json={"to": [RESIDENT], "text": "Họp thôn"}, headers=AUTH)
    assert routine.status == 202
    body = await routine.json()
    assert body["ids"] == [] and body["skipped"][0]["to"] == RESIDENT
    alert = {"to": [RESIDENT], "text": "Lũ về, sơ tán ngay", "priority": "alert"}
    assert (await (await gateway.post("/api/v1/messages", json=alert, headers=AUTH)).json())["ids"]
    assert await sql(gateway, "select text from outbox where source like 'api:%'") == [("Lũ về, sơ tán ngay",)]


async def test_a_hamlet_head_has_no_alert_priority_and_a_daily_ceiling(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator, broadcasts={"daily_segments_hamlet_head": 5})
    await add(client, "Giàng Thị Dua", RESIDENT, ["resident"])
    headers = await head_token(client)
    alert = {"to": [RESIDENT], "text": "Khẩn", "priority": "alert"}
    assert (await client.post("/api/v1/messages", json=alert, headers=headers)).status == 403
    long = {"to": [RESIDENT], "text": "Hop thon " * 40}  # 360 GSM-7 characters: 3 segments
    assert (await client.post("/api/v1/messages", json=long, headers=headers)).status == 202
    refused = await client.post("/api/v1/messages", json=long, headers=headers)
    assert refused.status == 429
    assert (await refused.json())["limit"] == 5
    assert await count(client, "outbox") == 1
    # the commune's own systems (config tokens) have no ceiling by default
    assert (await client.post("/api/v1/messages", json=long, headers=AUTH)).status == 202


async def test_fifteen_oks_cost_at_most_the_daily_reply_cap(gateway: Any, emulator: EmulatedModem) -> None:
    await add(gateway, "Vàng A Sử", HEAD, ["hamlet_head"])
    for text in ("Họp khẩn 14h", "Sạt lở đường lên bản"):
        resp = await gateway.post("/api/v1/alerts", json={"text": text, "to": {"numbers": [HEAD]}}, headers=AUTH)
        assert resp.status == 201
    await settled(gateway)
    before = len(to(emulator, HEAD))
    assert before == 2
    for i in range(15):
        # each a different SMS (the same PDU twice is one message, deduplicated before any reply)
        await say(gateway, emulator, "OK" + "!" * i, sender=HEAD)
    replies = to(emulator, HEAD)[before:]
    assert len(replies) == 5  # [residents] daily_reply_cap
    assert replies[0].text.startswith("Có 2 cảnh báo chờ xác nhận")


async def test_no_automatic_reply_to_foreign_or_premium_numbers(gateway: Any, emulator: EmulatedModem) -> None:
    for sender in ("+447700900123", "19001234", "+8419001234", "VIETTEL", "8079"):
        assert await say(gateway, emulator, "KS", sender=sender) == []
    assert await count(gateway, "outbox") == 0
    assert len(await say(gateway, emulator, "KS", sender=RESIDENT)) == 1

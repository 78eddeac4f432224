"""210 SMS from one number must not push real questions off Dân hỏi: one sender's questions that reach
the page are limited per day, the rest stay in the inbox (issue #30, Low 12)."""

from __future__ import annotations

from typing import Any

from gateway.testing import AUTH, EmulatedModem, routed, settled, sql

FLOOD = "+84912000007"
RESIDENT = "+84912000008"


async def test_one_numbers_flood_leaves_room_for_the_others(gateway: Any, emulator: EmulatedModem) -> None:
    for i in range(25):
        emulator.deliver(FLOOD, f"Nhà em có việc riêng muốn hỏi chị Hoa lần {i}")
    await routed(gateway, 25)
    emulator.deliver(RESIDENT, "Nhà em có việc riêng muốn hỏi chị Hoa")
    await routed(gateway, 26)
    await settled(gateway)
    asked = await (await gateway.get("/api/v1/questions?status=open", headers=AUTH)).json()
    senders = [q["from"] for q in asked["questions"]]
    assert senders.count(FLOOD) == 10  # [residents] daily_questions
    assert RESIDENT in senders
    assert await sql(gateway, "select count(*) from inbox where sender=?", FLOOD) == [(25,)]  # nothing lost
